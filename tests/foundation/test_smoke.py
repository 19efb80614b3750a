"""The whole default pipeline on the tiny model, end to end, then again from the cache."""

from __future__ import annotations

import json
import time

import pytest


@pytest.mark.slow
def test_default_pipeline_end_to_end_then_cached(cli, outputs):
    t0 = time.perf_counter()
    res = cli(["+experiment=soulchat_full", "tracking.run_name=smoke"])
    first = time.perf_counter() - t0
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert first < 240, f"the tiny default took {first:.0f}s"

    markers = {p.parent.parent.name: json.loads(p.read_text()) for p in (outputs / "cache").glob("*/*/_SUCCESS.json")}
    assert set(markers) == {"rewrite", "corpus", "train", "generate", "evaluate"}
    assert "bleu-4" in markers["evaluate"]["metrics"] or any(k.startswith("bleu-4") for k in markers["evaluate"]["metrics"])
    run_dirs = list((outputs / "runs").glob("*/*/config.resolved.yaml"))
    assert len(run_dirs) == 1

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    exp = client.get_experiment_by_name("soulchat_full")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert run.data.tags["experiment"] == "soulchat_full" and run.data.tags["scale"] == "tiny"
    assert run.data.tags["choice.prompt"] == "soulchat" and "git_commit" in run.data.tags
    assert any(k.startswith("evaluate/") for k in run.data.metrics)
    assert any(k.startswith("train/") for k in run.data.metrics)

    # again: every stage comes from the cache, metrics are logged all the same
    t0 = time.perf_counter()
    res = cli(["+experiment=soulchat_full"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    again = time.perf_counter() - t0
    assert again < first
    runs = client.search_runs([exp.experiment_id], order_by=["attribute.start_time DESC"])
    assert len(runs) == 2
    assert all(runs[0].data.tags[f"stage.{s}"] == "cached" for s in markers)
    # the stage metrics come back from the cache; training curves are only logged by the run that trained
    cached = runs[0].data.metrics
    assert any(k.startswith("evaluate/bleu-4") for k in cached)
    assert cached == pytest.approx({k: run.data.metrics[k] for k in cached})
