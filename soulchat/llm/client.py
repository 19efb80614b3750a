"""The one async OpenAI-compatible client: store first, then the network, validated answers out.

See the package docstring (:mod:`soulchat.llm`) for the API and an example.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from soulchat.io import stable_hash
from soulchat.llm.failures import (
    FatalEndpointError,
    InvalidOutput,
    StoreMiss,
    Unfinished,
    check_base_url,
    never_sent,
    timed_out,
)
from soulchat.llm.limits import RateLimiter, SpendGuard, parse_retry_after, retry_delay
from soulchat.llm.progress import Progress
from soulchat.llm.store import ResponseStore, Stored, StoreStack, request_key
from soulchat.tracking.redact import redact_text
from soulchat.tracking.secrets import SecretNotFound, env_value

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429}  # and every 5xx
FATAL_STATUS = {401, 403, 404}  # a bad key, no access, an unknown model or path: no request can succeed
AUTH = {"security": {"bearer_auth": True}}  # the request options chat.completions.create sends


__all__ = ["FatalEndpointError", "InvalidOutput", "LLMClient", "Request", "Result", "Stats", "StoreMiss",
           "Unfinished", "open_stores", "sampling_params"]

@dataclass(frozen=True)
class Request:
    """One chat-completions request.

    Attributes:
        id: the caller's record id (results, logs, the store's ``item`` column, batch files).
        messages: OpenAI chat messages.
        key: what the answer depends on besides model, sampling parameters and attempt, e.g.
            ``{"template": <prompt template hash>, "source": <source record hash>}``. None: a hash
            of ``messages``.
        params: extra request parameters (``response_format``, ``seed``, ...); part of the key.
    """

    id: str
    messages: list
    key: Optional[dict] = None
    params: dict = field(default_factory=dict)


@dataclass
class Result:
    """The outcome of one request.

    ``status``: ``ok`` (accepted by the validator), ``invalid`` (every attempt rejected),
    ``failed`` (the endpoint refused this item: 400, 422, content filter), ``unfinished`` (a
    transient error outlasted the retries: network, 5xx, 429, timeouts; or a spend guard stopped its
    retries), ``skipped`` (the run stopped first: a spend guard, a fatal error, an endpoint that is
    down). ``unfinished`` and ``skipped`` items are asked again by the next run (:attr:`left`);
    ``errors`` lists each rejected or failed attempt's reason.
    """

    id: str
    status: str
    text: Optional[str] = None
    value: Any = None
    attempts: int = 0
    key: Optional[str] = None
    from_store: int = 0
    from_network: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list = field(default_factory=list)
    model: str = ""
    params: dict = field(default_factory=dict)

    @property
    def left(self) -> bool:
        """Not done for a transient reason: the next run asks again."""
        return self.status in ("unfinished", "skipped")


@dataclass
class Stats:
    """Counts for logs and MLflow (``as_metrics``)."""

    items: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    unfinished: int = 0
    skipped: int = 0
    store_hits: int = 0
    network: int = 0  # requests sent (retries included; not those that never left)
    retries: int = 0
    abandoned: int = 0  # sent, then given up on (timeouts, drops): ``cost`` counts them at their bound
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    stopped_by: Optional[str] = None
    reasons: Counter = field(default_factory=Counter)

    def as_metrics(self) -> dict[str, float]:
        out = {k: float(getattr(self, k)) for k in (
            "items", "ok", "invalid", "failed", "unfinished", "skipped", "store_hits", "network", "retries",
            "abandoned", "prompt_tokens", "completion_tokens", "cost", "seconds")}
        out["requests_per_s"] = self.network / self.seconds if self.seconds else 0.0
        return out


Validator = Callable[[str, Request], Any]


class _ItemFailed(Exception):
    """This item's request ended without an answer; ``status`` is its :class:`Result` status."""

    def __init__(self, reason: str, status: str = "failed"):
        super().__init__(reason)
        self.status = status


def sampling_params(cfg: Any) -> dict[str, Any]:
    """The endpoint's sampling parameters (part of every store key)."""
    return {"temperature": float(cfg.temperature), "top_p": float(cfg.top_p), "max_tokens": int(cfg.max_tokens)}


def open_stores(cfg: Any) -> StoreStack:
    """The endpoint's writable store plus its recorded (read-only) stores that exist."""
    recorded = [ResponseStore(p, readonly=True) for p in (cfg.recorded or []) if Path(p).exists()]
    return StoreStack(ResponseStore(cfg.store), recorded)


class LLMClient:
    """Answers :class:`Request` lists from the store or an OpenAI-compatible endpoint.

    Args:
        cfg: an ``endpoint`` config (:class:`soulchat.llm.components.EndpointConfig`).
        concurrency: requests in flight at once.
        progress: show a progress bar.
        desc: the progress bar's label.
        store: a store to use instead of ``cfg.store`` + ``cfg.recorded``.

    Raises:
        FatalEndpointError: ``base_url`` is not an http(s) URL with a host, holds credentials, or
            the env var ``api_key_env`` is not set.
        ValueError: ``concurrency`` is below 1.
    """

    def __init__(self, cfg: Any, concurrency: int = 32, progress: bool = True, desc: str = "llm",
                 store: StoreStack | ResponseStore | None = None):
        self.cfg = cfg
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be at least 1 (requests in flight), got {concurrency}")
        self.concurrency = int(concurrency)
        self.progress = progress
        self.desc = desc
        self.offline = not cfg.base_url
        self.model = str(cfg.model)
        self.sampling = sampling_params(cfg)
        self.store = store if store is not None else open_stores(cfg)
        self.api_key = None
        if not self.offline:
            check_base_url(cfg.base_url, cfg.api_key_env)
            try:  # the value is a secret whatever the variable is called (redacted from then on)
                self.api_key = env_value(cfg.api_key_env, "endpoint.api_key_env")
            except SecretNotFound as exc:
                raise FatalEndpointError(f"endpoint.base_url={cfg.base_url} needs an API key: {exc}") from None
        self.stats = Stats()

    # -- keys -------------------------------------------------------------------------------------

    def params_for(self, req: Request) -> dict[str, Any]:
        return {**self.sampling, **req.params}

    def key_for(self, req: Request, attempt: int) -> str:
        """The store key of ``req`` at ``attempt`` (1-based)."""
        parts = req.key if req.key is not None else {"messages": stable_hash(req.messages, 32)}
        return request_key(self.model, parts, self.params_for(req), attempt)

    def recording(self, req: Request, text: str, source: str, attempt: int = 1) -> Stored:
        """``text`` as the stored answer to ``req`` under its live key, for a bundled recording
        (token counts are character counts; ``source`` says where the text came from)."""
        return Stored(self.key_for(req, attempt), req.id, attempt, self.model, text, "stop",
                      len(req.messages[0]["content"]), len(text),
                      {"parts": req.key, "params": self.params_for(req), "recorded_from": source})

    # -- running ----------------------------------------------------------------------------------

    def run(self, requests: Iterable[Request], validate: Optional[Validator] = None, max_attempts: int = 1,
            on_result: Optional[Callable[[Request, Result], None]] = None, keep: bool = True,
            ledger: str | Path | None = None) -> list[Result]:
        """Synchronous :meth:`arun` (starts its own event loop)."""
        return asyncio.run(self.arun(requests, validate, max_attempts, on_result, keep, ledger))

    async def arun(self, requests: Iterable[Request], validate: Optional[Validator] = None,
                   max_attempts: int = 1, on_result: Optional[Callable[[Request, Result], None]] = None,
                   keep: bool = True, ledger: str | Path | None = None) -> list[Result]:
        """Answer every request; results come back in the requests' order.

        Each request is looked up in the store at attempt 1, 2, ...; a miss is sent to the endpoint
        and persisted the moment it arrives. ``validate(text, request)`` returns the parsed value
        or raises :class:`InvalidOutput`, which re-asks at the next attempt up to ``max_attempts``.

        ``requests`` is consumed lazily (a generator keeps a 600k-request job's memory flat);
        ``on_result(request, result)`` is called in the requests' order as results are ready; with
        ``keep=False`` the results are not kept (an empty list is returned). ``ledger``: a file
        that keeps the spend guards' totals across runs (:class:`SpendGuard`); None: this run's only.

        Once ``max(3, concurrency)`` items in a row are left unfinished by transient errors, the
        endpoint is taken to be down and the remaining items are ``skipped``.

        Raises:
            StoreMiss: offline and a first attempt is not stored (nothing more is sent).
            FatalEndpointError: the endpoint answered 401/403/404, or no request could be built.
        """
        cfg = self.cfg
        total = len(requests) if hasattr(requests, "__len__") else None  # type: ignore[arg-type]
        self.stats = stats = Stats()
        self.guard = guard = SpendGuard(cfg.max_requests, cfg.max_total_tokens, cfg.max_cost,
                                        dict(cfg.prices_per_1k or {}), ledger=ledger)
        before = dataclasses.replace(guard.total)  # earlier runs' spend (a ledger): not this run's
        self.limiter = RateLimiter(cfg.rpm, cfg.tpm)
        self._fatal: Optional[BaseException] = None
        self._stop: Optional[str] = None  # the endpoint looks down: ask nothing more
        down = 0  # items in a row left unfinished by transient errors
        self.api = None if self.offline else self.open_api()
        results: list[Result] = []
        waiting: dict[int, tuple[Request, Result]] = {}  # finished out of order, not yet delivered
        delivered = 0
        queue = enumerate(requests)  # shared by the workers: each pulls the next request
        bar = Progress(total, self.desc, stats, enabled=self.progress)
        t0 = time.perf_counter()

        def deliver(i: int, req: Request, res: Result) -> None:
            nonlocal delivered
            waiting[i] = (req, res)
            while delivered in waiting:
                req, res = waiting.pop(delivered)
                delivered += 1
                if keep:
                    results.append(res)
                if on_result is not None:
                    on_result(req, res)

        async def worker() -> None:
            nonlocal down
            for i, req in queue:
                stats.items += 1
                if self._fatal is not None or self._stop is not None:
                    res = Result(req.id, "skipped", errors=[f"run_stopped: {self._fatal or self._stop}"])
                else:
                    try:
                        res = await self._one(req, validate, max_attempts)
                    except (StoreMiss, FatalEndpointError) as exc:
                        self._fatal = exc
                        res = Result(req.id, "skipped", errors=[str(exc)])
                if res.status == "unfinished" and guard.tripped is None:
                    down += 1
                    if down >= max(3, self.concurrency) and self._stop is None:
                        self._stop = f"endpoint_down: {down} items in a row failed, the last with {res.errors[-1]}"
                elif not res.left:
                    down = 0
                setattr(stats, res.status, getattr(stats, res.status) + 1)
                for reason in res.errors:
                    stats.reasons[reason.split(":", 1)[0]] += 1
                _spent_since(stats, guard, before)
                bar.advance()
                deliver(i, req, res)

        workers = self.concurrency if total is None else min(self.concurrency, max(1, total))
        frozen = _freeze_heap()
        try:
            # the workers start one loop iteration apart, so that each first request leaves as soon
            # as it is built (see _start_workers)
            await asyncio.gather(*await _start_workers(worker, workers))
        finally:
            if frozen:
                gc.unfreeze()
            stats.seconds = time.perf_counter() - t0
            _spent_since(stats, guard, before)
            guard.close()
            bar.close()
            if self.api is not None:
                await self.api.close()
        stats.stopped_by = guard.tripped
        log.info("%s: %d items: %d ok, %d invalid, %d failed, %d unfinished, %d skipped; %d from the store, "
                 "%d from the network (%d retries, %d abandoned); %d tokens, cost %.4f", self.desc, stats.items,
                 stats.ok, stats.invalid, stats.failed, stats.unfinished, stats.skipped, stats.store_hits,
                 stats.network, stats.retries, stats.abandoned, stats.prompt_tokens + stats.completion_tokens,
                 stats.cost)
        if self._fatal is not None:
            raise self._fatal
        return results

    async def _one(self, req: Request, validate: Optional[Validator], max_attempts: int) -> Result:
        res = Result(req.id, "invalid", model=self.model, params=self.params_for(req))
        for attempt in range(1, max(1, max_attempts) + 1):
            key = self.key_for(req, attempt)
            res.attempts, res.key = attempt, key
            got = self.store.get(key)
            if got is not None:
                res.from_store += 1
                self.stats.store_hits += 1
            elif self.offline:
                if attempt == 1:
                    raise StoreMiss(
                        f"no stored answer for {req.id!r} (key {key}, model {self.model}) in "
                        f"{self.store.describe()}; endpoint=recorded answers only from the store. "
                        f"To call an API: endpoint=openai endpoint.base_url=<url> endpoint.model=<model> "
                        f"with the key in ${self.cfg.api_key_env}")
                res.errors.append(f"no_recording: attempt {attempt} is not in the store (offline)")
                return res
            else:
                try:
                    got = await self._fetch(req, key, attempt)
                except _ItemFailed as exc:
                    res.status = exc.status
                    res.errors.append(str(exc))
                    return res
                res.from_network += 1
            res.text = got.text
            res.prompt_tokens += got.prompt_tokens
            res.completion_tokens += got.completion_tokens
            if got.finish_reason == "content_filter":
                res.status = "failed"
                res.errors.append(f"content_filter: attempt {attempt} was filtered by the endpoint")
                return res
            if validate is None:
                res.status = "ok"
                return res
            try:
                res.value = validate(got.text or "", req)
            except InvalidOutput as exc:
                res.errors.append(f"{exc}")
                continue
            res.status = "ok"
            return res
        return res

    # -- the network ------------------------------------------------------------------------------

    def open_api(self) -> Any:
        """A fresh ``openai.AsyncOpenAI`` for this endpoint (close it with ``await api.close()``).

        Its HTTP transport is aiohttp (the SDK's ``DefaultAioHttpClient``): httpx's connection pool
        scans every connection twice per request, which at 64 in flight costs more CPU than the rest
        of a request (benchmarks/rewrite_bench.py).
        """
        from openai import AsyncOpenAI, DefaultAioHttpClient

        for name in ("httpx", "httpx2", "openai"):  # one INFO line per request drowns the run's log
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))

        # retries are ours (Retry-After, counts, per-item errors), so the SDK's are off
        return AsyncOpenAI(base_url=self.cfg.base_url, api_key=self.api_key, max_retries=0,
                           timeout=float(self.cfg.timeout_s), http_client=DefaultAioHttpClient())

    def _estimate_tokens(self, req: Request) -> int:
        chars = sum(len(str(m.get("content", ""))) for m in req.messages)
        return chars + int(self.params_for(req).get("max_tokens", 0))

    def _token_bound(self, req: Request) -> tuple[int, int]:
        """An upper bound of what ``req`` may be billed, (prompt, completion) tokens: a byte-level BPE
        token is at least one UTF-8 byte, plus a few tokens per message; at most ``max_tokens`` back."""
        prompt = sum(len(str(m.get("content", "")).encode("utf-8")) + 4 for m in req.messages) + 3
        return prompt, int(self.params_for(req).get("max_tokens") or 0)

    async def _fetch(self, req: Request, key: str, attempt: int) -> Stored:
        """Send one request with retries; persist and return the answer.

        Every try is first reserved with the spend guard (retries are requests like any other).

        Raises:
            _ItemFailed: ``failed``: a non-retryable error (400, 422, ...); ``unfinished``: retries
                exhausted or the spend guard stopped them; ``skipped``: the spend guard, before any try.
            FatalEndpointError: 401, 403 or 404, or no request could be built.
        """
        cfg = self.cfg
        estimate = self._estimate_tokens(req)
        bound = self._token_bound(req)
        for retry in range(int(cfg.max_retries) + 1):
            if not await self.guard.acquire(*bound):
                raise _ItemFailed(f"spend_guard: {self.guard.tripped} reached", "unfinished" if retry else "skipped")
            await self.limiter.acquire(estimate)
            answer, reason, after = await self._send(req, bound)
            if answer is not None:
                return self._persist(req, key, attempt, *answer, estimate)
            if retry == int(cfg.max_retries):
                raise _ItemFailed(f"{reason}: gave up after {retry + 1} tries", "unfinished")
            self.stats.retries += 1
            await asyncio.sleep(retry_delay(retry, float(cfg.backoff_s), float(cfg.max_backoff_s), after))
        raise AssertionError("unreachable")

    async def _send(self, req: Request, bound: tuple[int, int]) -> tuple[Optional[tuple], str, Optional[float]]:
        """One try of a reserved request: ``((text, finish, usage), "", None)``, or ``(None, reason,
        Retry-After)`` for an error worth retrying. Settles the reservation however it ends.

        Raises:
            _ItemFailed: a non-retryable error status (400, 422, ...).
            FatalEndpointError: 401, 403 or 404, or the request could not be built.
        """
        import openai

        cfg = self.cfg
        outcome, usage = "abandoned", None  # sent and no answer read: the server may bill it
        self.stats.network += 1
        try:
            try:
                # the SDK's plain POST (its documented route for any endpoint), answered as the raw
                # HTTP response (cast_to=httpx.Response): it skips the type-driven transform of the
                # request, the SDK's response wrapper and the pydantic models of the answer, which is
                # persisted as JSON anyway; this is the client's hottest path. Error statuses still
                # raise APIStatusError.
                response = await self.api.post("/chat/completions", cast_to=_http_response(), options=AUTH,
                                               body={"model": self.model, "messages": req.messages,
                                                     **self.params_for(req)})
            except openai.APIStatusError as exc:
                outcome, code = "refused", exc.status_code
                if code in FATAL_STATUS:
                    raise FatalEndpointError(
                        f"endpoint {cfg.base_url} answered {code} for {req.id!r}: {_short(exc)}; check "
                        f"{cfg.api_key_env}, endpoint.model and endpoint.base_url") from None
                if code not in RETRYABLE_STATUS and code < 500:
                    raise _ItemFailed(f"http_{code}: {_short(exc)}") from None
                return None, f"http_{code}", parse_retry_after(exc.response.headers)
            except openai.APIConnectionError as exc:  # APITimeoutError included
                if never_sent(exc):  # refused, unknown host: nothing left, nothing to bill
                    outcome = "unsent"
                    return None, "connection", None
                log.debug("connection error for %s: %r", req.id, exc)
                return None, ("timeout" if timed_out(exc) else "connection"), None
            except openai.APIError:
                raise
            except Exception as exc:  # the SDK wraps transport errors: this one came before sending
                outcome = "unsent"
                raise FatalEndpointError(
                    f"no request could be built for endpoint {cfg.base_url}: {type(exc).__name__}: {_short(exc)}; "
                    f"check endpoint.base_url and the request parameters (endpoint.temperature, top_p, "
                    f"max_tokens)") from None
            try:
                body = json.loads(response.content)
                choice = body["choices"][0]
                text, finish = choice["message"].get("content"), choice.get("finish_reason")
                usage = body.get("usage") or None
                usage = usage and (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
            except (ValueError, LookupError, TypeError, AttributeError) as exc:
                log.debug("bad response for %s: %s", req.id, exc)  # a body that is not a chat completion
                return None, "bad_response", None
            if usage is None:  # a server that reports no usage: estimate from characters
                usage = (self._estimate_tokens(req) - bound[1], len(text or ""))
            outcome = "answered"
            return (text, finish, usage), "", None
        finally:
            if outcome == "unsent":
                self.stats.network -= 1
            elif outcome == "abandoned":
                self.stats.abandoned += 1
            self.guard.settle(*bound, outcome, *(usage if outcome == "answered" else (0, 0)))

    def _persist(self, req: Request, key: str, attempt: int, text: Optional[str], finish: Optional[str],
                 usage: tuple[int, int], estimate: int) -> Stored:
        prompt_tokens, completion_tokens = usage
        stored = Stored(key, req.id, attempt, self.model, text, finish, prompt_tokens, completion_tokens,
                        {"parts": req.key, "params": self.params_for(req)})
        self.store.put(stored)
        self.limiter.settle(estimate, prompt_tokens + completion_tokens)
        return stored


async def _start_workers(worker: Callable[[], Any], n: int) -> list:
    """Start ``n`` worker tasks one event-loop iteration apart; return them.

    Started all at once, the ``n`` workers each build their first request before any of them is
    sent: on Python < 3.12 aiohttp writes a request in a task of its own, which runs only after every
    callback already due, so at 64 workers the first request leaves ~30 ms late, all 64 answers
    come back in one bunch, and the single loop's serial handling of that bunch keeps the requests
    bunched in every later round (each one waiting for the whole bunch). One iteration apart, each
    first request goes out as soon as it is built, about a millisecond after the previous one, and
    the rounds stay spread out (docs/rewrite.md, "Performance").
    """
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.ensure_future(worker()))
        await asyncio.sleep(0)
    return tasks


def _freeze_heap() -> bool:
    """Move the objects alive now out of the garbage collector's reach for the run (``gc.freeze``).

    The process's start-up heap (Hydra, the SDK, ...) is about 120k objects; a full collection
    scans all of them, ~130 ms on the event loop, during which no answer is handled. Frozen, a full
    collection only scans what the run itself allocates. Returns whether this call froze (it does
    nothing if the heap is already frozen, e.g. by the caller); ``gc.unfreeze()`` undoes it.
    """
    if gc.get_freeze_count():
        return False
    gc.freeze()
    return True


@functools.cache
def _http_response() -> type:
    """The SDK's HTTP response class: ``httpx2.Response`` in openai >= 3, ``httpx.Response`` before (asked of
    the SDK itself: both libraries may be installed, e.g. httpx2 for huggingface_hub)."""
    from openai import _base_client

    http = getattr(_base_client, "httpx2", None) or _base_client.httpx
    return http.Response


def _short(exc: Exception, limit: int = 200) -> str:
    text = redact_text(str(getattr(exc, "message", None) or exc))  # servers may quote the key
    return text if len(text) <= limit else text[:limit] + "..."


def _spent_since(stats: Stats, guard: SpendGuard, before: Any) -> None:
    """This run's tokens and cost in ``stats``: the guard's totals less those of earlier runs."""
    now = guard.total
    stats.prompt_tokens = now.prompt_tokens - before.prompt_tokens
    stats.completion_tokens = now.completion_tokens - before.completion_tokens
    stats.cost = guard.cost - before.cost(guard.prices_per_1k)
