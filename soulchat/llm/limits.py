"""Rate limits, retry delays and spend guards for the LLM client."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from soulchat.errors import SoulchatError


class TokenBucket:
    """A per-minute budget refilled continuously (requests or tokens).

    Bursts are capped at a tenth of a minute's budget, so a fresh client does not spend the whole
    minute in its first second and collect 429s.
    """

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 10.0)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` is available and take it (more than the capacity waits for full)."""
        async with self.lock:
            amount = min(amount, self.capacity)
            self._refill()
            while self.level < amount:
                await asyncio.sleep((amount - self.level) / self.rate)
                self._refill()
            self.level -= amount

    def give_back(self, amount: float) -> None:
        """Return an over-estimate (tokens) once the real usage is known."""
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits together (either may be None)."""

    def __init__(self, rpm: Optional[float], tpm: Optional[float]):
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None

    async def acquire(self, estimated_tokens: int) -> None:
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(estimated_tokens)

    def settle(self, estimated_tokens: int, used_tokens: int) -> None:
        if self.tokens is not None and used_tokens < estimated_tokens:
            self.tokens.give_back(estimated_tokens - used_tokens)


def retry_delay(attempt: int, base: float, cap: float, retry_after: Optional[float]) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Exponential backoff with jitter (between half and all of ``base * 2**attempt``, capped); a
    server's Retry-After is honoured as a minimum.
    """
    backoff = min(cap, base * (2 ** attempt)) * random.uniform(0.5, 1.0)
    return max(backoff, retry_after or 0.0)


def parse_retry_after(headers: Any) -> Optional[float]:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds form), or None."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None


class SpendLimitReached(SoulchatError, RuntimeError):
    """A spend guard stopped the run; the message says which one and how far the run got."""


@dataclass
class Spend:
    """What has been sent and what it may cost (token counts; priced by :meth:`cost`).

    ``prompt_tokens``/``completion_tokens`` are the usage the server reported; ``abandoned`` counts
    requests given up on after they were sent (timeouts, dropped connections, unreadable bodies):
    the server may bill them, so they count at their upper bound (``abandoned_*_tokens``).
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    abandoned: int = 0
    abandoned_prompt_tokens: int = 0
    abandoned_completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens + self.completion_tokens + self.abandoned_prompt_tokens
                + self.abandoned_completion_tokens)

    def cost(self, prices_per_1k: dict) -> float:
        return ((self.prompt_tokens + self.abandoned_prompt_tokens) * float(prices_per_1k.get("input", 0.0))
                + (self.completion_tokens + self.abandoned_completion_tokens)
                * float(prices_per_1k.get("output", 0.0))) / 1000.0


class SpendGuard:
    """Hard caps on what is sent: requests (retries included), tokens and cost.

    A request is sent only once :meth:`acquire` has reserved it: it counts as sent, and an upper
    bound of its tokens (``prompt_bound`` + ``max_tokens``) counts against ``max_total_tokens`` and
    ``max_cost`` while it is in flight, so concurrent requests cannot overshoot together. A request
    that would fit once those in flight settle waits for them; one that cannot fit trips the guard.
    :meth:`settle` replaces the bound by the reported usage, releases it (an error status, not
    billed; never sent, not counted at all) or keeps it (abandoned: the server may bill it).

    With ``ledger`` (a file) the totals are cumulative over every run given the same file: they are
    read at the start and rewritten at every reservation and settlement, requests in flight counted
    as abandoned, so a killed run's spend counts too. Without it they start at 0 for each run.
    """

    WIDTH = 512  # the ledger is one space-padded JSON line rewritten in place (one pwrite, no rename)

    def __init__(self, max_requests: Optional[int] = None, max_total_tokens: Optional[int] = None,
                 max_cost: Optional[float] = None, prices_per_1k: Optional[dict] = None,
                 ledger: Optional[str | Path] = None):
        self.max_requests, self.max_total_tokens, self.max_cost = max_requests, max_total_tokens, max_cost
        self.prices_per_1k = dict(prices_per_1k or {})
        self.total = Spend()
        self.in_flight = 0
        self.reserved_prompt = self.reserved_completion = 0
        self.tripped: Optional[str] = None
        self.ledger = Path(ledger) if ledger is not None else None
        self.runs = 1
        self._fd: Optional[int] = None
        self._changed: Optional[asyncio.Event] = None
        if self.ledger is not None:
            self._load()

    @property
    def cumulative(self) -> bool:
        """Whether the totals include earlier runs (a ledger file is kept)."""
        return self.ledger is not None

    @property
    def cost(self) -> float:
        return self.total.cost(self.prices_per_1k)

    def _price(self, prompt: int, completion: int) -> float:
        return Spend(prompt_tokens=prompt, completion_tokens=completion).cost(self.prices_per_1k)

    def _room(self, prompt_bound: int, completion_bound: int) -> Optional[bool]:
        """True: reserve now; False: it can never fit (trip); None: it fits once in-flight requests settle."""
        t = self.total
        if self.max_requests is not None and t.requests + 1 > self.max_requests:
            self.tripped = f"max_requests={self.max_requests}"
            return False
        wait = False
        bound, reserved = prompt_bound + completion_bound, self.reserved_prompt + self.reserved_completion
        if self.max_total_tokens is not None:
            if t.tokens + bound > self.max_total_tokens:
                self.tripped = f"max_total_tokens={self.max_total_tokens}"
                return False
            wait = t.tokens + reserved + bound > self.max_total_tokens
        if self.max_cost is not None:
            cost = self.cost + self._price(prompt_bound, completion_bound)
            if cost > self.max_cost:
                self.tripped = f"max_cost={self.max_cost}"
                return False
            wait = wait or cost + self._price(self.reserved_prompt, self.reserved_completion) > self.max_cost
        return None if wait else True

    async def acquire(self, prompt_bound: int, completion_bound: int) -> bool:
        """Reserve one request (waiting for in-flight ones to settle if need be); False once tripped."""
        while self.tripped is None:
            room = self._room(prompt_bound, completion_bound)
            if room:
                self.total.requests += 1
                self.in_flight += 1
                self.reserved_prompt += prompt_bound
                self.reserved_completion += completion_bound
                self._save()
                return True
            if room is False:
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            await self._changed.wait()
        return False

    def settle(self, prompt_bound: int, completion_bound: int, outcome: str,
               prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """End a reservation. ``outcome``: ``answered`` (the reported usage counts), ``refused`` (an
        error status: nothing billed), ``unsent`` (it never left: not a request either) or
        ``abandoned`` (sent, no answer read: the bound counts)."""
        self.in_flight -= 1
        self.reserved_prompt -= prompt_bound
        self.reserved_completion -= completion_bound
        t = self.total
        if outcome == "answered":
            t.prompt_tokens += prompt_tokens
            t.completion_tokens += completion_tokens
        elif outcome == "abandoned":
            t.abandoned += 1
            t.abandoned_prompt_tokens += prompt_bound
            t.abandoned_completion_tokens += completion_bound
        elif outcome == "unsent":
            t.requests -= 1
        self._save()
        if self._changed is not None:
            self._changed.set()

    def describe(self) -> str:
        """What has been spent, and over which runs (for messages)."""
        scope = (f"over {self.runs} runs of this job (kept in {self.ledger})" if self.cumulative and self.runs > 1
                 else "by this job so far" if self.cumulative else "by this run")
        return (f"{self.total.requests} requests, {self.total.tokens} tokens, cost {self.cost:.4f} "
                f"({self.total.abandoned} abandoned, counted at their bound) {scope}")

    # -- the ledger -------------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.ledger is not None
        if self.ledger.exists():
            try:
                data = json.loads(self.ledger.read_text(encoding="utf-8"))
                self.total = Spend(**{k: int(data.get(k, 0)) for k in Spend.__dataclass_fields__})
                self.runs = int(data.get("runs", 0)) + 1
            except (ValueError, TypeError) as exc:
                raise SoulchatError(
                    f"{self.ledger}: unreadable spend ledger ({exc}); delete it to start counting from 0 "
                    f"(the spend of earlier runs is then forgotten)") from None
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.ledger, os.O_RDWR | os.O_CREAT, 0o644)
        self._save()

    def _save(self) -> None:
        if self._fd is None:
            return
        t = self.total
        data = {**t.__dict__, "runs": self.runs, "abandoned": t.abandoned + self.in_flight,
                "abandoned_prompt_tokens": t.abandoned_prompt_tokens + self.reserved_prompt,
                "abandoned_completion_tokens": t.abandoned_completion_tokens + self.reserved_completion}
        os.pwrite(self._fd, json.dumps(data).ljust(self.WIDTH).encode() + b"\n", 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
