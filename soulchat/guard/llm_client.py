"""The ``llm`` guard's client (:mod:`soulchat.guard.llm`): one per guard, one run of it per screen,
one HTTP session kept between screens; and the store that keeps nothing."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any, Optional

from soulchat.llm import LLMClient, Request, Result, Stats
from soulchat.llm.transport import Try

log = logging.getLogger(__name__)


class NoStore:
    """A response store that keeps nothing (the default: answers derive from what users wrote)."""

    def get(self, key: str) -> None:
        return None

    def put(self, stored: Any) -> None:
        pass

    def describe(self) -> str:
        return "no store (guard.store is unset)"

    def close(self) -> None:
        pass


class ScreenClient(LLMClient):
    """The guard's one client. Built at start (the URL and key checks); each screen runs on a shallow
    copy (:meth:`screen`), so screens in flight together (serve's worker threads) keep their own run
    state: what a run counts and caps (its ``Stats``, its spend guard and rate limiter, so the endpoint's
    ``max_requests``, ``max_total_tokens``, ``max_cost``, ``rpm`` and ``tpm`` hold per screen, as with a
    client per screen). One HTTP session serves every screen: opened at the first, on the guard's
    loop, and closed by :meth:`aclose` (a run's own close leaves it open).

    A try whose connection drops before the answer (not a timeout, not refused) is sent once more per
    screen, on a one-off connection (:meth:`_send`): servers close idle kept-alive connections, and
    one that closes as the next screen goes out drops that request; aiohttp resends only idempotent
    methods, never a POST. The resend is a request like any other (spend guard, rate limiter, counts)."""

    def __init__(self, cfg: Any, store: Any) -> None:
        super().__init__(cfg, concurrency=1, progress=False, desc=f"guard {cfg.name}", store=store)
        self.session: Any = None
        self.resent = False

    def open_api(self) -> Any:
        return _Kept(self.session)

    async def screen(self, req: Request, validate: Any) -> tuple[Result, Stats]:
        """One screen's result and its run's counts, on a copy of this client; opens the session the
        first time (on the loop)."""
        if self.session is None:
            self.session = super().open_api()
        run = copy.copy(self)
        run.resent = False
        return (await run.arun([req], validate=validate))[0], run.stats

    async def _send(self, req: Request, bound: tuple[int, int]) -> Try:
        t = await super()._send(req, bound)
        if t.answer is not None or t.outcome != "abandoned" or t.reason != "connection" or self.resent:
            return t
        self.resent = True
        if not await self.guard.acquire(*bound):  # a spend cap: the drop stands
            return t
        await self.limiter.acquire(self._estimate_tokens(req))
        self.stats.retries += 1
        log.debug("guard %s: the connection dropped before the answer; sent again on a new one", self.cfg.name)
        kept, self.api = self.api, super().open_api()
        try:
            return await super()._send(req, bound)
        finally:
            fresh, self.api = self.api, kept
            await fresh.close()

    async def aclose(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()


class _Kept:
    """The guard's session as a run sees it: a run closes it when it ends, which leaves it open."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def close(self) -> None:
        pass


def shut(loop: asyncio.AbstractEventLoop, client: Optional[ScreenClient]) -> None:
    """Close ``client``'s session on ``loop``, then stop the loop (waits for it unless called on the loop)."""
    closing = client.aclose() if client is not None else asyncio.sleep(0)
    with contextlib.suppress(RuntimeError):
        if asyncio.get_running_loop() is loop:  # collected on the loop's own thread: it cannot be waited for
            loop.create_task(closing).add_done_callback(lambda _: loop.stop())
            return
    with contextlib.suppress(Exception):  # a session that will not close does not keep the loop running
        asyncio.run_coroutine_threadsafe(closing, loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
