"""Work-arounds for the event loop, the garbage collector and the SDK, each with its reason
(measured in docs/rewrite.md, "Performance")."""

from __future__ import annotations

import asyncio
import functools
import gc
from typing import Any, Callable


async def start_workers(worker: Callable[[], Any], n: int) -> list:
    """Start ``n`` worker tasks one event-loop iteration apart; return them.

    Started all at once, the ``n`` workers each build their first request before any of them is
    sent: on Python < 3.12 aiohttp writes a request in a task of its own, which runs only after every
    callback already due, so the first requests leave late and together, their answers come back in
    one bunch, and the single loop's serial handling of that bunch keeps the requests bunched in
    every later round. One iteration apart, each first request goes out as soon as it is built and
    the rounds stay spread out.
    """
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.ensure_future(worker()))
        await asyncio.sleep(0)
    return tasks


def freeze_heap() -> bool:
    """Move the objects alive now out of the garbage collector's reach for the run (``gc.freeze``).

    The process's start-up heap (Hydra, the SDK, ...) is large, and a full collection scans all of
    it on the event loop, during which no answer is handled; frozen, a full collection only scans
    what the run itself allocates. Returns whether this call froze (it does nothing if the heap is
    already frozen, e.g. by the caller); ``gc.unfreeze()`` undoes it.
    """
    if gc.get_freeze_count():
        return False
    gc.freeze()
    return True


@functools.cache
def http_response() -> type:
    """The SDK's HTTP response class: ``httpx2.Response`` in openai >= 3, ``httpx.Response`` before (asked of
    the SDK itself: both libraries may be installed, e.g. httpx2 for huggingface_hub)."""
    from openai import _base_client

    http = getattr(_base_client, "httpx2", None) or _base_client.httpx
    return http.Response
