"""The crisis guard built from the real composed config."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def guard():
    from hydra import compose, initialize_config_dir

    from soulchat.config import CONF_DIR, setup
    from soulchat.registry import build

    setup()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config")
    return build("guard", cfg.guard)
