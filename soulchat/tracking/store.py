"""Which MLflow store a command-line tool (``soulchat ui``, ``soulchat compare``) opens, and the
process's unique run suffix.

The store is the one the pipeline writes to: the ``tracking`` section of the composed config, so
``paths.outputs=...``, ``tracking.uri=...`` or ``SOULCHAT_OUTPUTS`` move both together.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence


@functools.cache
def run_suffix() -> str:
    """Six random hex digits, fixed for this process: the ``${soulchat_run_suffix:}`` resolver in
    ``hydra.run.dir`` (runs started in the same second get separate folders) and the end of a single
    run's MLflow name. Not from ``random``: the app seeds it before MLflow names a run."""
    return os.urandom(3).hex()


def sweep_suffix() -> str:
    """Six random hex digits for ``hydra.sweep.dir``, fixed for the sweep's process and the job
    processes it starts (kept in ``SOULCHAT_SWEEP_SUFFIX``, which they inherit), so two sweeps
    started in the same second get separate folders while one sweep's jobs share its folder."""
    return os.environ.setdefault("SOULCHAT_SWEEP_SUFFIX", os.urandom(3).hex())


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split command-line words into Hydra overrides (``key=value``) and the rest."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    return overrides, [a for a in args if a not in overrides]


def tracking_store(overrides: Sequence[str] = ()) -> tuple[str, str | None, Path]:
    """``(tracking_uri, artifact_root, outputs folder)`` of the config composed with ``overrides``.

    Raises:
        hydra.errors.ConfigCompositionException: an override names an unknown key.
    """
    from soulchat.config import compose
    from soulchat.tracking.secrets import refuse_secret_overrides
    from soulchat.tracking.tracker import store_location

    refuse_secret_overrides(overrides)
    cfg = compose(list(overrides))
    return (*store_location(cfg.tracking), Path(cfg.paths.outputs))
