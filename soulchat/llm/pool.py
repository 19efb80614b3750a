"""The client's worker pool: workers sharing one request iterator, results handed back in order,
and the breaker that stops asking an endpoint that looks down."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Awaitable, Callable, Iterable, Optional

from soulchat.llm.types import Request, Result
from soulchat.llm.workarounds import freeze_heap, start_workers


class InOrder:
    """Hands results on in the requests' order while they finish in any order.

    ``keep``: collect them in :attr:`results`; ``on_result(request, result)`` is called for each.
    """

    def __init__(self, keep: bool, on_result: Optional[Callable[[Request, Result], None]]):
        self.keep = keep
        self.on_result = on_result
        self.results: list[Result] = []
        self.waiting: dict[int, tuple[Request, Result]] = {}  # finished out of order, not yet handed on
        self.next = 0

    def put(self, i: int, req: Request, res: Result) -> None:
        self.waiting[i] = (req, res)
        while self.next in self.waiting:
            req, res = self.waiting.pop(self.next)
            self.next += 1
            if self.keep:
                self.results.append(res)
            if self.on_result is not None:
                self.on_result(req, res)


class Breaker:
    """Takes the endpoint to be down once ``limit`` items in a row are left unfinished by transient
    errors (a spend guard's stop does not count); :attr:`reason` says so, None until then."""

    def __init__(self, limit: int):
        self.limit = limit
        self.down = 0
        self.reason: Optional[str] = None

    def record(self, res: Result, guard_tripped: Optional[str]) -> None:
        if res.status == "unfinished" and guard_tripped is None:
            self.down += 1
            if self.down >= self.limit and self.reason is None:
                self.reason = f"endpoint_down: {self.down} items in a row failed, the last with {res.errors[-1]}"
        elif not res.left:
            self.down = 0


async def run_pool(requests: Iterable[Any], work: Callable[[int, Any], Awaitable[None]], n: int) -> None:
    """``work(i, request)`` for every request by ``n`` workers pulling from one shared iterator (a
    generator is consumed lazily), started one loop iteration apart, the heap frozen meanwhile
    (:mod:`soulchat.llm.workarounds`)."""
    queue = enumerate(requests)

    async def worker() -> None:
        for i, req in queue:
            await work(i, req)

    frozen = freeze_heap()
    try:
        await asyncio.gather(*await start_workers(worker, n))
    finally:
        if frozen:
            gc.unfreeze()
