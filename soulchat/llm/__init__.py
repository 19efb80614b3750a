"""soulchat.llm: the one OpenAI-compatible client (rewrite stage, ``openai`` generator, CEHS judge).

The API, in short::

    from soulchat.llm import LLMClient, Request, InvalidOutput

    client = LLMClient(cfg.endpoint, concurrency=32, desc="judge")   # or build("endpoint", cfg.endpoint)
    reqs = [Request(id="t-1", messages=[{"role": "user", "content": "..."}],
                    key={"template": template_hash, "source": record_hash},   # optional
                    params={"response_format": {"type": "json_object"}})]     # optional
    # or a text completion (POST /completions, models without a chat template):
    # Request(id="t-2", prompt="用户：...\\n心理咨询师：", params={"stop": ["\\n用户："]})
    def validate(text: str, req: Request):          # return the parsed value, or raise to re-ask
        try:
            return json.loads(text)
        except ValueError:
            raise InvalidOutput("not_json: the answer is not a JSON object")
    results = client.run(reqs, validate=validate, max_attempts=3)   # `await client.arun(...)` in async code
    for r in results:   # in the requests' order
        r.status        # ok | invalid (every attempt rejected) | failed (refused: 400, 422, filter)
                        # | unfinished (transient error after the retries) | skipped (the run stopped)
        r.left          # unfinished or skipped: a re-run asks again
        r.value, r.text, r.attempts, r.errors, r.from_store, r.from_network, r.key, r.params
    client.stats.as_metrics()   # items, ok, invalid, failed, unfinished, skipped, store_hits, network,
                                # retries, abandoned, prompt_tokens, completion_tokens, cost, seconds, ...
    client.stats.stopped_by     # the spend guard that stopped the run, or None
    # big jobs: a generator of requests, results streamed in order, none kept in memory
    client.run((make(x) for x in rows), validate, on_result=lambda req, res: ..., keep=False)

What happens to each request, attempt 1..max_attempts:

1. Its store key is ``request_key(endpoint.model, key parts, sampling params + params, attempt)``
   (:mod:`soulchat.llm.store`); ``key=None`` uses a hash of the messages. An answer already in the
   store (the writable ``endpoint.store``, then the read-only ``endpoint.recorded`` ones) is used.
2. Otherwise, offline (``endpoint=recorded``: no ``base_url``) a first-attempt miss raises
   :class:`StoreMiss` saying how to go live; online, every try (retries included) is first
   reserved with the spend guards (``max_requests``, ``max_total_tokens``, ``max_cost`` with
   ``prices_per_1k``: hard caps, each request in flight counted at its token bound, a timed-out one
   kept at it; ``run(..., ledger=file)`` makes them count across runs), the RPM/TPM limits waited
   for, and the request sent through ``openai.AsyncOpenAI`` (key from the env var named by
   ``endpoint.api_key_env``). 429/408/409/5xx, timeouts, dropped connections and unparsable bodies
   are retried with exponential backoff and jitter, honouring Retry-After, then left
   ``unfinished``; 400/422 fail the item (``Result.errors``); a bad ``base_url``, 401/403/404 or a
   request that cannot be built stop the run at once (:class:`FatalEndpointError`). The answer is
   committed to the store the moment it arrives, so a killed run loses nothing and pays nothing
   twice.
3. ``validate(text, request)`` accepts (its return value is ``Result.value``) or raises
   :class:`InvalidOutput` (the reason is kept) and the request is asked again at attempt + 1.

Batch jobs (OpenAI's Batch API) use the same keys: :mod:`soulchat.llm.batch`. Tests and benchmarks
use the local server :mod:`soulchat.testing.llm_server`.
"""

from soulchat.llm.client import (
    FatalEndpointError,
    InvalidOutput,
    LLMClient,
    Request,
    Result,
    Stats,
    StoreMiss,
    Unfinished,
    open_stores,
    sampling_params,
)
from soulchat.llm.limits import SpendLimitReached
from soulchat.llm.store import ResponseStore, Stored, StoreStack, request_key

__all__ = [
    "FatalEndpointError", "InvalidOutput", "LLMClient", "Request", "Result", "Stats", "StoreMiss",
    "Unfinished", "open_stores", "sampling_params", "SpendLimitReached", "ResponseStore", "Stored", "StoreStack",
    "request_key",
]
