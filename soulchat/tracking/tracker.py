"""A thin, explicit wrapper over MLflow for one pipeline job.

Uses :class:`mlflow.MlflowClient` with an explicit run id everywhere (never the fluent active-run
stack or ``MLFLOW_RUN_ID``), so a sweep's parent run is never hijacked and a job can be nested
under it by id.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def git_state(repo: Path | None = None) -> dict[str, str]:
    """The git commit and dirty flag of the source tree ("unknown" outside a checkout)."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except Exception:
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def ensure_store(uri: str) -> None:
    """Create a local SQLite store's folder (and its schema) before parallel jobs race for it."""
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


class NullTracker:
    """Used with ``tracking.enabled=false``: every call is a no-op."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...
    def log_text(self, text: str, artifact_file: str) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


class Tracker(NullTracker):
    """One MLflow run, addressed by id."""

    def __init__(self, uri: str, experiment: str, artifact_root: str | None, run_name: str | None,
                 parent_run_id: str | None = None, tags: Mapping[str, Any] | None = None):
        import mlflow
        from mlflow import MlflowClient

        ensure_store(uri)
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            try:
                exp_id = self.client.create_experiment(experiment, artifact_location=artifact_root)
            except mlflow.exceptions.MlflowException:  # created by a parallel job meanwhile
                exp_id = self.client.get_experiment_by_name(experiment).experiment_id
        else:
            exp_id = exp.experiment_id
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(exp_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id
        self.experiment_id = exp_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, str(k), str(v))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(str(k), float(v), ts, step or 0) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i:i + 500])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


def open_tracker(cfg: DictConfig, run_name: str | None = None, tags: Mapping[str, Any] | None = None,
                 parent_run_id: str | None = None) -> NullTracker:
    """Open the run for one job, or a :class:`NullTracker` when tracking is off."""
    t = cfg.tracking
    if not t.enabled:
        return NullTracker()
    parent = parent_run_id or os.environ.get("SOULCHAT_PARENT_RUN_ID") or None
    return Tracker(t.uri, t.experiment, t.artifacts, run_name, parent, tags)


def resolved_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
