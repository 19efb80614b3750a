"""Shared fixtures for the evaluate tests: real SMILECHAT pairs (skipped where absent)."""

from pathlib import Path

import pytest

SMILECHAT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


@pytest.fixture(scope="session")
def real_pairs():
    if not SMILECHAT.exists():
        pytest.skip(f"needs {SMILECHAT}")
    from soulchat.testing.pairs import reply_pairs

    return reply_pairs(SMILECHAT, 1200)
