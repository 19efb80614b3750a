"""Fixtures of the serve tests: ``soulchat serve`` subprocesses over the chat tests' models."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chat"))

from chat_support import KEY, serving  # noqa: E402

# ``trained`` and ``random_hf`` come from tests/conftest.py (shared with the chat tests)


@pytest.fixture(scope="session")
def server(random_hf):
    """``soulchat serve`` of the random-init model (replies stream max_tokens tokens), no key."""
    with serving([str(random_hf), "serve.max_messages=8", "serve.max_body_bytes=20000",
                  "generate.max_new_tokens=24"]) as (url, *_):
        yield url


@pytest.fixture(scope="session")
def keyed_server(trained):
    """``soulchat serve`` of the trained model, a bearer key required (from $SOULCHAT_API_KEY)."""
    with serving([str(trained["hf"])], env={"SOULCHAT_API_KEY": KEY}) as running:
        yield running
