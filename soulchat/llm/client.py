"""The one async OpenAI-compatible client: store first, then the network, validated answers out.

See the package docstring (:mod:`soulchat.llm`) for the API and an example. The pieces:
:mod:`.types` (requests, results, counts), :mod:`.pool` (workers, ordering, the down-breaker),
:mod:`.transport` (the SDK over aiohttp), :mod:`.limits` (rate limits, spend guards),
:mod:`.store` (the response store), :mod:`.workarounds` (event loop, GC, SDK).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from soulchat.io import stable_hash
from soulchat.llm import transport
from soulchat.llm.failures import FatalEndpointError, InvalidOutput, StoreMiss, Unfinished, check_base_url
from soulchat.llm.limits import RateLimiter, SpendGuard, retry_delay
from soulchat.llm.pool import Breaker, InOrder, run_pool
from soulchat.llm.progress import Progress
from soulchat.llm.store import ResponseStore, Stored, StoreStack, request_key
from soulchat.llm.types import ItemFailed, Request, Result, Stats, Validator
from soulchat.tracking.secrets import SecretNotFound, env_value

log = logging.getLogger(__name__)

__all__ = ["FatalEndpointError", "InvalidOutput", "LLMClient", "Request", "Result", "Stats", "StoreMiss",
           "Unfinished", "open_stores", "sampling_params"]


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

    def body(self, req: Request) -> dict[str, Any]:
        """The request body: ``prompt`` (``POST /completions``) or ``messages`` (``/chat/completions``)."""
        given = {"prompt": req.prompt} if req.prompt is not None else {"messages": req.messages}
        return {"model": self.model, **given, **self.params_for(req)}

    def key_for(self, req: Request, attempt: int) -> str:
        """The store key of ``req`` at ``attempt`` (1-based)."""
        parts = req.key if req.key is not None else (  # a prompt and chat messages never share a key
            {"prompt": stable_hash(req.prompt, 32)} if req.prompt is not None else {"messages": stable_hash(req.messages, 32)})
        return request_key(self.model, parts, self.params_for(req), attempt)

    def recording(self, req: Request, text: str, source: str, attempt: int = 1) -> Stored:
        """``text`` as the stored answer to ``req`` under its live key, for a bundled recording
        (token counts are character counts; ``source`` says where the text came from)."""
        return Stored(self.key_for(req, attempt), req.id, attempt, self.model, text, "stop",
                      len(req.texts()[0]), len(text),
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
        breaker = Breaker(max(3, self.concurrency))
        self.api = None if self.offline else self.open_api()
        ordered = InOrder(keep, on_result)
        bar = Progress(total, self.desc, stats, enabled=self.progress)
        t0 = time.perf_counter()

        async def item(i: int, req: Request) -> None:
            stats.items += 1
            stop = self._fatal or breaker.reason
            if stop is not None:
                res = Result(req.id, "skipped", errors=[f"run_stopped: {stop}"])
            else:
                try:
                    res = await self._one(req, validate, max_attempts)
                except (StoreMiss, FatalEndpointError) as exc:
                    self._fatal = exc
                    res = Result(req.id, "skipped", errors=[str(exc)])
            breaker.record(res, guard.tripped)
            stats.count(res)
            _spent_since(stats, guard, before)
            bar.advance()
            ordered.put(i, req, res)

        try:
            await run_pool(requests, item, self.concurrency if total is None else min(self.concurrency, max(1, total)))
        finally:
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
        return ordered.results

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
                except ItemFailed as exc:
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
        """A fresh ``openai.AsyncOpenAI`` for this endpoint (:func:`.transport.open_api`)."""
        return transport.open_api(self.cfg.base_url, self.api_key, float(self.cfg.timeout_s))

    def _estimate_tokens(self, req: Request) -> int:
        chars = sum(map(len, req.texts()))
        return chars + int(self.params_for(req).get("max_tokens", 0))

    def _token_bound(self, req: Request) -> tuple[int, int]:
        """An upper bound of what ``req`` may be billed, (prompt, completion) tokens: a byte-level BPE
        token is at least one UTF-8 byte, plus a few tokens per message; at most ``max_tokens`` back."""
        prompt = sum(len(t.encode("utf-8")) + 4 for t in req.texts()) + 3
        return prompt, int(self.params_for(req).get("max_tokens") or 0)

    async def _fetch(self, req: Request, key: str, attempt: int) -> Stored:
        """Send one request with retries; persist and return the answer.

        Every try is first reserved with the spend guard (retries are requests like any other).

        Raises:
            ItemFailed: ``failed``: a non-retryable error (400, 422, ...); ``unfinished``: retries
                exhausted or the spend guard stopped them; ``skipped``: the spend guard, before any try.
            FatalEndpointError: 401, 403 or 404, or no request could be built.
        """
        cfg = self.cfg
        estimate = self._estimate_tokens(req)
        bound = self._token_bound(req)
        for retry in range(int(cfg.max_retries) + 1):
            if not await self.guard.acquire(*bound):
                raise ItemFailed(f"spend_guard: {self.guard.tripped} reached", "unfinished" if retry else "skipped")
            await self.limiter.acquire(estimate)
            t = await self._send(req, bound)
            if t.answer is not None:
                return self._persist(req, key, attempt, *t.answer, estimate)
            if retry == int(cfg.max_retries):
                raise ItemFailed(f"{t.reason}: gave up after {retry + 1} tries", "unfinished")
            self.stats.retries += 1
            await asyncio.sleep(retry_delay(retry, float(cfg.backoff_s), float(cfg.max_backoff_s), t.retry_after))
        raise AssertionError("unreachable")

    async def _send(self, req: Request, bound: tuple[int, int]) -> transport.Try:
        """One try of a reserved request (:func:`.transport.send`); counts it and settles the
        reservation however it ends. An answer without usage gets a character estimate."""
        t = transport.Try()
        self.stats.network += 1
        try:
            await transport.send(self.api, self.body(req), req.id, self.cfg, t)
            if t.answer is not None and t.answer[2] is None:  # a server that reports no usage
                text, finish, _ = t.answer
                t.answer = (text, finish, (self._estimate_tokens(req) - bound[1], len(text or "")))
            return t
        finally:
            if t.outcome == "unsent":
                self.stats.network -= 1
            elif t.outcome == "abandoned":
                self.stats.abandoned += 1
            self.guard.settle(*bound, t.outcome, *(t.answer[2] if t.outcome == "answered" else (0, 0)))

    def _persist(self, req: Request, key: str, attempt: int, text: Optional[str], finish: Optional[str],
                 usage: tuple[int, int], estimate: int) -> Stored:
        prompt_tokens, completion_tokens = usage
        stored = Stored(key, req.id, attempt, self.model, text, finish, prompt_tokens, completion_tokens,
                        {"parts": req.key, "params": self.params_for(req)})
        self.store.put(stored)
        self.limiter.settle(estimate, prompt_tokens + completion_tokens)
        return stored


def _spent_since(stats: Stats, guard: SpendGuard, before: Any) -> None:
    """This run's tokens and cost in ``stats``: the guard's totals less those of earlier runs."""
    now = guard.total
    stats.prompt_tokens = now.prompt_tokens - before.prompt_tokens
    stats.completion_tokens = now.completion_tokens - before.completion_tokens
    stats.cost = guard.cost - before.cost(guard.prices_per_1k)
