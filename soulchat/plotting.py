"""matplotlib for every stage's charts, imported off the caller's stack.

Importing matplotlib imports pyparsing, which keeps the frames of exceptions it raises while building
its grammars alive. A frame pins its caller's frame (``f_back``), so an import inside a stage would
keep the stage's frame, and all its locals (a whole corpus, a model), alive after the stage returns,
until the next full garbage collection, and every collection before that walks them again. Imported
in a short-lived thread, only that thread's frames are left behind.

:func:`preload` starts the import early (a stage calls it first, so it overlaps other work);
:func:`pyplot` waits for it and returns ``matplotlib.pyplot`` with the Agg backend.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _load() -> None:
    import matplotlib

    matplotlib.use("Agg")
    importlib.import_module("matplotlib.pyplot")


def preload() -> None:
    """Start importing matplotlib in a background thread (returns at once)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_load, name="import-matplotlib", daemon=True)
            _thread.start()


def pyplot() -> Any:
    """``matplotlib.pyplot`` (Agg backend), imported by :func:`preload`'s thread."""
    preload()
    _thread.join()
    import matplotlib.pyplot as plt  # already in sys.modules: runs no module code here

    return plt
