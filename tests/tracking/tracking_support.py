"""Helpers for the tracking tests (imported as ``tracking_support``; conftest puts this folder on
sys.path): run the real CLI in a subprocess, read the real MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_QA = REPO / "soulchat" / "data" / "demo" / "qa.jsonl"

#: the cheapest real stages: the rewrite stage answers from the bundled recorded store (no network)
FAST = ["stages=[rewrite]"]
#: the whole pipeline, shrunk: 20 dialogues, 4 optimizer steps, 4 test samples of 8 new tokens
TINY = ["rewrite.limit=20", "train.max_steps=4", "train.warmup_steps=1", "generate.max_samples=4",
        "generate.max_new_tokens=8"]

#: planted secrets: none of these may appear anywhere under outputs/
SECRETS = {
    "OPENAI_API_KEY": "sk-planted0123456789abcdefXYZ",  # the endpoint's key variable
    "SOULCHAT_TEST_ACCESS_TOKEN": "plantedtokenQ7w8e9r0t1y2",  # any secret-named variable
}
URL_PASSWORD = "plantedUrlPassw0rd42"  # inside a config value (a URL with credentials)
ENV_SET_TOKEN = "plantedEnvSetToken77"  # a +hydra.job.env_set.* override


def run_soulchat(args: list[str], outputs: Path, env: dict[str, str] | None = None,
                 timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m soulchat ARGS`` with ``SOULCHAT_OUTPUTS=outputs``."""
    full_env = {**os.environ, "SOULCHAT_OUTPUTS": str(outputs), **(env or {})}
    full_env.pop("SOULCHAT_PARENT_RUN_ID", None)
    return subprocess.run([sys.executable, "-m", "soulchat", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def client_for(outputs: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{outputs}/mlflow.db")


def runs_of(outputs: Path, experiment: str):
    """(parent sweep runs, job runs) of an MLflow experiment in the store under ``outputs``."""
    client = client_for(outputs)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} in {outputs}"
    runs = client.search_runs([exp.experiment_id], order_by=["attribute.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("soulchat.role") == "sweep"]
    return parents, [r for r in runs if r not in parents]


def files_containing(root: Path, needles: list[str]) -> list[tuple[str, str]]:
    """Every (file, needle) where a needle occurs in a file's bytes under root (binary files too)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [(str(path), n) for n in needles if n.encode() in data]
    return found

