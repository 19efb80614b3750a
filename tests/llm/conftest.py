"""Fixtures for the LLM client tests: a real local server, a key in the environment."""

import pytest

from soulchat.testing.llm_server import TestServer


@pytest.fixture
def server(monkeypatch):
    """A fresh server on 127.0.0.1 (fast Retry-After) and OPENAI_API_KEY set to a dummy value."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    with TestServer(retry_after=0.05) as srv:
        yield srv
