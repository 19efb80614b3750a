"""Progress that shows wherever the output goes: a tqdm bar in a terminal, and a log line at a steady
interval when stderr is not one (SLURM, nohup, CI), so a long loop never goes silent.

``SOULCHAT_PROGRESS_INTERVAL`` (seconds, default 30) sets the interval of the log lines.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from tqdm import tqdm

log = logging.getLogger("soulchat.progress")


def interval_s() -> float:
    return float(os.environ.get("SOULCHAT_PROGRESS_INTERVAL", "30"))


def is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Discard:
    def write(self, text: str) -> None: ...
    def flush(self) -> None: ...


class LogLines(tqdm):
    """A tqdm whose every refresh is one log line (at most one per interval, and one at the end)."""

    def __init__(self, *args: Any, interval: float | None = None, **kwargs: Any):
        every = interval_s() if interval is None else interval
        kwargs.update(disable=False, mininterval=every, maxinterval=max(every, 1.0), file=_Discard(),
                      dynamic_ncols=False, ncols=100)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        log.info("%s", self.format_meter(**{**self.format_dict, "ncols": 0}))
        return True


def bar(iterable: Any = None, **kwargs: Any) -> tqdm:
    """``tqdm(...)`` in a terminal, :class:`LogLines` elsewhere; same arguments (``disable`` ignored)."""
    kwargs.pop("disable", None)
    if is_terminal():
        return tqdm(iterable, **kwargs)
    return LogLines(iterable, **kwargs)


class Every:
    """``if every(): log.info(...)``: true at most once per interval (the first call included)."""

    def __init__(self, interval: float | None = None):
        self.interval = interval_s() if interval is None else interval
        self.last = -float("inf")

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False
