"""What several benchmarks share: the process's resident memory (Linux) and a validation split with no rows.

A benchmark imports it after putting its own folder on ``sys.path`` (tests load benchmarks by file path).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar


def proc_status(field: str) -> int:
    """A byte count from ``/proc/self/status`` (``VmRSS``: resident now, ``VmHWM``: its peak); 0 if absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def rss_reset() -> int:
    """The process's resident set now (bytes), after resetting its peak (``VmHWM``) to it (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return proc_status("VmRSS")


class NoRows:
    """An empty split (the ``SampleSet`` API): ``fit(..., datasets=(train, NoRows()))`` trains without validating."""

    lengths: ClassVar[list] = []

    def __len__(self) -> int:
        return 0
