"""The client's HTTP side: the OpenAI SDK over aiohttp, one try of one request at a time.

A try's :class:`Try` records how far it got (``outcome``) as it goes, so the caller can settle the
spend guard however the try ends, an exception included.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Optional

from soulchat.llm.failures import FatalEndpointError, never_sent, timed_out
from soulchat.llm.limits import parse_retry_after
from soulchat.llm.types import ItemFailed
from soulchat.llm.workarounds import http_response
from soulchat.tracking.redact import redact_text

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429}  # and every 5xx
FATAL_STATUS = {401, 403, 404}  # a bad key, no access, an unknown model or path: no request can succeed
AUTH = {"security": {"bearer_auth": True}}  # the request options chat.completions.create sends


@dataclass
class Try:
    """One try of a request. ``outcome``: ``abandoned`` (sent, no answer read: the server may bill
    it), ``answered``, ``refused`` (an error status) or ``unsent`` (never left). ``answer`` is
    ``(text, finish_reason, usage)`` with ``usage`` = (prompt, completion) tokens, or None when the
    server reported none; ``reason`` and ``retry_after`` say why a retryable try has no answer."""

    outcome: str = "abandoned"
    answer: Optional[tuple] = None
    reason: str = ""
    retry_after: Optional[float] = None


def open_api(base_url: str, api_key: Optional[str], timeout_s: float) -> Any:
    """A fresh ``openai.AsyncOpenAI`` for an endpoint (close it with ``await api.close()``).

    Its HTTP transport is aiohttp (the SDK's ``DefaultAioHttpClient``): httpx's connection pool
    scans every connection twice per request, which at 64 in flight costs more CPU than the rest
    of a request (benchmarks/rewrite_bench.py).
    """
    from openai import AsyncOpenAI, DefaultAioHttpClient

    for name in ("httpx", "httpx2", "openai"):  # one INFO line per request drowns the run's log
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))

    # retries are the client's (Retry-After, counts, per-item errors), so the SDK's are off
    return AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=float(timeout_s),
                       http_client=DefaultAioHttpClient())


async def send(api: Any, body: dict, req_id: str, cfg: Any, t: Try) -> None:
    """One try of ``body`` through ``api``: a text completion (``POST /completions``) when it has a
    ``prompt``, else a chat completion; fills ``t`` as it goes.

    Raises:
        ItemFailed: a non-retryable error status (400, 422, ...).
        FatalEndpointError: 401, 403 or 404, or the request could not be built.
    """
    import openai

    try:
        # the SDK's plain POST (its documented route for any endpoint), answered as the raw HTTP
        # response: it skips the type-driven transform of the request, the SDK's response wrapper
        # and the pydantic models of the answer, which is persisted as JSON anyway (the hottest
        # path). Error statuses still raise APIStatusError.
        path = "/completions" if "prompt" in body else "/chat/completions"
        response = await api.post(path, cast_to=http_response(), options=AUTH, body=body)
    except openai.APIStatusError as exc:
        t.outcome, code = "refused", exc.status_code
        if code in FATAL_STATUS:
            raise FatalEndpointError(
                f"endpoint {cfg.base_url} answered {code} for {req_id!r}: {short(exc)}; check "
                f"{cfg.api_key_env}, endpoint.model and endpoint.base_url") from None
        if code not in RETRYABLE_STATUS and code < 500:
            raise ItemFailed(f"http_{code}: {short(exc)}") from None
        t.reason, t.retry_after = f"http_{code}", parse_retry_after(exc.response.headers)
        return
    except openai.APIConnectionError as exc:  # APITimeoutError included
        if never_sent(exc):  # refused, unknown host: nothing left, nothing to bill
            t.outcome, t.reason = "unsent", "connection"
            return
        log.debug("connection error for %s: %r", req_id, exc)
        t.reason = "timeout" if timed_out(exc) else "connection"
        return
    except openai.APIError:
        raise
    except Exception as exc:  # the SDK wraps transport errors: this one came before sending
        t.outcome = "unsent"
        raise FatalEndpointError(
            f"no request could be built for endpoint {cfg.base_url}: {type(exc).__name__}: {short(exc)}; "
            f"check endpoint.base_url and the request parameters (endpoint.temperature, top_p, "
            f"max_tokens)") from None
    try:
        data = json.loads(response.content)
        choice = data["choices"][0]
        text = choice["text"] if "prompt" in body else choice["message"].get("content")
        finish = choice.get("finish_reason")
        usage = data.get("usage") or None
        usage = usage and (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        log.debug("bad response for %s: %s", req_id, exc)  # a body that is not a (chat) completion
        t.reason = "bad_response"
        return
    t.outcome, t.answer = "answered", (text, finish, usage)


def short(exc: Exception, limit: int = 200) -> str:
    """An error's message for logs and results: redacted (servers may quote the key), at most ``limit``."""
    text = redact_text(str(getattr(exc, "message", None) or exc))
    return text if len(text) <= limit else text[:limit] + "..."
