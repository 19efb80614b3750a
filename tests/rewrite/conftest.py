"""Fixtures for the rewrite stage tests: the local server, running the stage through the pipeline."""

from pathlib import Path

import pytest

from soulchat import pipeline
from soulchat.testing.llm_server import TestServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    with TestServer(retry_after=0.05) as srv:
        yield srv


@pytest.fixture
def run_rewrite(compose, outputs, tmp_path):
    """run_rewrite(overrides) -> (StageResult, folder): the rewrite stage as the pipeline runs it."""

    def _run(overrides=()):
        cfg = compose(["stages=[rewrite]", "tracking.enabled=false", *overrides])
        plan = pipeline.plan(cfg)
        run_dir = tmp_path / "run"
        run_dir.mkdir(exist_ok=True)
        result = pipeline.run_stage("rewrite", cfg, plan, run_dir)
        return result, Path(result.path)

    return _run
