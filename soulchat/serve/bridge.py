"""Text pieces from the engine's thread to the request handlers on the event loop.

Each request gets a :class:`soulchat.chat.stream.TextPieces` whose pieces go to the request's
asyncio queue through one :class:`Mailbox` per loop: an engine thread wakes the loop once per 10 ms,
not once per row and token (the engine's process sends what 10 ms of steps drew as one message), and
a handler sends what has gathered as one event, so a busy server writes a few larger chunks per
request instead of one per token (still fluid to a reader).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, AsyncIterator


class Mailbox:
    """Hands ``(queue, item)`` posts from any thread to the loop: what is posted within ``interval``
    seconds of a first post is delivered together (one wake-up, and one event per request). Posts
    made on the loop itself (the engine process's tokens are read there, already gathered) go in at
    once: what one callback posts reaches each handler as one event anyway."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.01):
        self.loop = loop
        self.interval = interval
        self._items: deque = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._loop_thread = threading.get_ident()  # made on the loop (the app's startup)

    def post(self, queue: asyncio.Queue, item: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            queue.put_nowait(item)
            return
        with self._lock:
            self._items.append((queue, item))
            if self._scheduled:
                return
            self._scheduled = True
        self.loop.call_soon_threadsafe(self.loop.call_later, self.interval, self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            items, self._items, self._scheduled = self._items, deque(), False
        for queue, item in items:
            queue.put_nowait(item)


def make_streamer(tokenizer: Any, mailbox: Mailbox) -> Any:
    """A :class:`TextPieces` whose ``(text, ended)`` pieces land in its ``queue`` on the mailbox's loop."""
    from soulchat.chat.stream import TextPieces

    queue: asyncio.Queue = asyncio.Queue()
    streamer = TextPieces(tokenizer, lambda text, ended: mailbox.post(queue, (text, ended)))
    streamer.queue = queue
    return streamer


async def pieces(queue: asyncio.Queue) -> AsyncIterator[str]:
    """The text as it comes, what has gathered since the last read joined into one piece; ends at the
    streamer's end."""
    while True:
        items = [await queue.get()]
        while not queue.empty():
            items.append(queue.get_nowait())
        text = "".join(t for t, _ in items)
        if text:
            yield text
        if any(ended for _, ended in items):
            return
