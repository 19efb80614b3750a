"""The LLM client's progress bar: done/failed/left/cached counts, requests per second, tokens, cost."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A tqdm bar whose postfix is refreshed at most every ``every`` seconds (cheap at 1000 req/s).

    Args:
        total: items to answer (None: unknown).
        desc: the bar's label.
        stats: the client's live :class:`soulchat.llm.client.Stats`.
        enabled: False draws nothing (tests, benchmarks).
    """

    def __init__(self, total: int | None, desc: str, stats: Any, enabled: bool = True, every: float = 0.5):
        self.stats = stats
        self.every = every
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if enabled:  # a bar in a terminal, a log line per interval elsewhere (soulchat.progress)
            from soulchat import progress

            self.bar = progress.bar(total=total, desc=desc, unit="item", mininterval=every, file=sys.stderr,
                                    dynamic_ncols=True)

    def advance(self) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self.bar.set_postfix_str(self.postfix(now), refresh=False)

    def postfix(self, now: float) -> str:
        s = self.stats
        rps = s.network / max(1e-9, now - self.t0)
        return (f"ok {s.ok} failed {s.failed + s.invalid} left {s.unfinished + s.skipped} cached {s.store_hits} | "
                f"{rps:.1f} req/s | "
                f"{s.prompt_tokens + s.completion_tokens} tok | cost {s.cost:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.postfix(time.perf_counter()), refresh=True)
            self.bar.close()
