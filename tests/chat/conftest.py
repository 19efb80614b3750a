"""Fixtures of the chat tests: a trained tiny model (a real run) and a servable random-init one."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_support import random_model, shared_base, trained_run  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``{"outputs", "hf", "run_id"}`` of ``python -m soulchat stages=[train]`` (a short run)."""
    return trained_run(shared_base(tmp_path_factory))


@pytest.fixture(scope="session")
def random_hf(tmp_path_factory):
    return random_model(shared_base(tmp_path_factory))
