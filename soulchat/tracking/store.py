"""Which MLflow store a command-line tool (``soulchat ui``, ``soulchat compare``) opens.

The same one the pipeline writes to: the ``tracking`` section of the composed config, so
``paths.outputs=...``, ``tracking.uri=...`` or ``SOULCHAT_OUTPUTS`` move both together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split command-line words into Hydra overrides (``key=value``) and the rest."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    return overrides, [a for a in args if a not in overrides]


def tracking_store(overrides: Sequence[str] = ()) -> tuple[str, str | None, Path]:
    """``(tracking_uri, artifact_root, outputs folder)`` of the config composed with ``overrides``.

    Raises:
        hydra.errors.ConfigCompositionException: an override names an unknown key.
    """
    from hydra import compose, initialize_config_dir

    from soulchat.config import CONF_DIR, setup
    from soulchat.tracking.tracker import store_location

    setup()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=list(overrides))
    return (*store_location(cfg.tracking), Path(cfg.paths.outputs))
