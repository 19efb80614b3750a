"""Rate limits, retry delays and spend guards for the LLM client."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Optional


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


class SpendLimitReached(RuntimeError):
    """A spend guard stopped the run; the message says which one and how far the run got."""


@dataclass
class SpendGuard:
    """Counts network spend and says when a configured maximum is reached.

    Checked before each network request: a request is sent only while every maximum is still above
    what has been spent (requests in flight are counted as sent).
    """

    max_requests: Optional[int] = None
    max_total_tokens: Optional[int] = None
    max_cost: Optional[float] = None
    prices_per_1k: dict = field(default_factory=dict)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tripped: Optional[str] = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> float:
        return (self.prompt_tokens * float(self.prices_per_1k.get("input", 0.0))
                + self.completion_tokens * float(self.prices_per_1k.get("output", 0.0))) / 1000.0

    def allow(self) -> bool:
        """True if one more request may be sent (and count it); False once a guard is reached."""
        if self.tripped is None:
            if self.max_requests is not None and self.requests >= self.max_requests:
                self.tripped = f"max_requests={self.max_requests}"
            elif self.max_total_tokens is not None and self.tokens >= self.max_total_tokens:
                self.tripped = f"max_total_tokens={self.max_total_tokens}"
            elif self.max_cost is not None and self.cost >= self.max_cost:
                self.tripped = f"max_cost={self.max_cost}"
        if self.tripped is not None:
            return False
        self.requests += 1
        return True

    def add_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
