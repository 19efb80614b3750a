"""A thin, explicit wrapper over MLflow for one pipeline job.

Uses :class:`mlflow.MlflowClient` with an explicit run id everywhere (never the fluent active-run
stack or ``MLFLOW_RUN_ID``), so a sweep's parent run is never hijacked and a job can be nested
under it by id (:data:`PARENT_ENV`, set by :class:`soulchat.tracking.sweep.MlflowSweepCallback`).
Everything logged goes through :mod:`soulchat.tracking.redact` first.

Use it as a context manager: on an exception the run is marked FAILED with the error as the
``error`` tag and the traceback as ``error.txt``; on Ctrl-C it is KILLED; otherwise FINISHED.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig

from soulchat.tracking import redact
from soulchat.tracking.procs import mark_vanished_runs, process_tags
from soulchat.tracking.secrets import is_secret_key

log = logging.getLogger(__name__)

#: the sweep's parent run id, set by the sweep callback before jobs are launched (our own name:
#: ``MLFLOW_RUN_ID`` would make every job *resume* the parent instead of nesting under it)
PARENT_ENV = "SOULCHAT_PARENT_RUN_ID"
MAX_PARAM_LEN = 6000
MAX_TAG_LEN = 5000


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


def store_location(tracking: Any) -> tuple[str, str | None]:
    """``(tracking_uri, artifact_root)`` of a ``tracking`` config section, local paths made absolute.

    A relative SQLite path or artifact folder would otherwise depend on the current directory, and
    ``soulchat ui`` started elsewhere would not find the artifacts. A folder store (``file:...`` or
    a plain path) is allowed explicitly (MLflow 3 refuses one otherwise); SQLite is the default.
    """
    uri = str(tracking.uri)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    elif uri.startswith("file:") or "://" not in uri:  # a folder store (the old ./mlruns layout)
        # MLflow 3 refuses one unless told; choosing it in tracking.uri is telling
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = Path(uri[len("file://"):] if uri.startswith("file://") else uri).resolve().as_uri()
    artifacts = tracking.get("artifacts") if hasattr(tracking, "get") else None
    if artifacts and "://" not in str(artifacts):
        artifacts = str(Path(str(artifacts)).resolve())
    return uri, (str(artifacts) if artifacts else None)


def ensure_store(uri: str) -> None:
    """Create a local SQLite store (folder and schema) now, under a file lock beside it.

    Several processes opening a fresh SQLite store at the same moment race on creating and
    migrating its tables (a half-migrated store fails every later run): every run, single or the
    launcher of a sweep, creates it through here first. Other stores are left to MLflow.
    """
    if not uri.startswith("sqlite:///"):
        return
    import fcntl

    from mlflow import MlflowClient

    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


#: MLflow's UI opens an experiment of this kind on its runs table, not on the GenAI overview
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(client: Any, name: str, artifact_root: str | None) -> str:
    """The id of MLflow experiment ``name``, created (artifacts under ``artifact_root``) if new,
    and marked as a model-development experiment so the dashboard lands on its runs."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if not all(exp.tags.get(k) == v for k, v in EXPERIMENT_KIND.items()):
            for k, v in EXPERIMENT_KIND.items():
                client.set_experiment_tag(exp.experiment_id, k, v)
        return exp.experiment_id
    uri = client.tracking_uri
    if artifact_root is None and uri.startswith("sqlite:///"):  # MLflow's default is ./mlruns in the cwd
        artifact_root = str(Path(uri[len("sqlite:///"):]).parent / "mlartifacts")
    location = f"{artifact_root}/{name}" if artifact_root else None
    try:
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    except MlflowException:  # created by a parallel job meanwhile
        return client.get_experiment_by_name(name).experiment_id


def _param_value(name: str, value: Any) -> str:
    """A param's value as sent: masked whole if its name is a secret's (``endpoint.api_key``)."""
    if is_secret_key(name.rsplit(".", 1)[-1]) and value not in (None, ""):
        return redact.MASK
    return redact.redact_text(str(value))[:MAX_PARAM_LEN]


class NullTracker:
    """Used with ``tracking.enabled=false``: every call is a no-op."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...
    def log_text(self, text: str, artifact_file: str) -> None: ...
    def log_config(self, cfg: Any) -> None: ...
    def log_dataset(self, name: str, digest: str, source: str, context: str = "training") -> None: ...
    def log_model(self, name: str, path: str, params: Mapping[str, Any] | None = None) -> None: ...
    def fail(self, exc: BaseException) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...

    def __enter__(self) -> "NullTracker":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.fail(exc)
        self.finish("FINISHED" if exc is None else "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")


class Tracker(NullTracker):
    """One MLflow run, addressed by id. Every value is redacted before it is sent."""

    def __init__(self, uri: str, experiment: str, artifact_root: str | None, run_name: str | None,
                 parent_run_id: str | None = None, tags: Mapping[str, Any] | None = None):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.experiment_id = experiment_id(self.client, experiment, artifact_root)
        all_tags = {str(k): redact.redact_text(str(v))[:MAX_TAG_LEN]
                    for k, v in {**process_tags(), **(tags or {})}.items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run_name = redact.redact_text(run_name) if run_name else None
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id
        self._finished = False

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), _param_value(str(k), v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(str(k), redact.redact_text(str(v))[:MAX_TAG_LEN]) for k, v in tags.items()]
        if items:
            self.client.log_batch(self.run_id, tags=items)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(str(k), float(v), ts, step or 0) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i:i + 500])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file or folder; text files holding a secret are uploaded as redacted copies."""
        path = Path(path)
        if redact.needs_redaction(path):
            with tempfile.TemporaryDirectory(prefix="soulchat-redact-") as tmp:
                copy = Path(tmp) / path.name
                shutil.copytree(path, copy) if path.is_dir() else shutil.copy2(path, copy)
                redact.redact_tree([copy])
                self._upload(copy, artifact_path)
        else:
            self._upload(path, artifact_path)

    def _upload(self, path: Path, artifact_path: str | None) -> None:
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, redact.redact_text(text), artifact_file)

    def log_config(self, cfg: Any) -> None:
        """The fully resolved config, secrets redacted, as ``config/resolved.yaml``."""
        self.client.log_text(self.run_id, redact.config_yaml(cfg), "config/resolved.yaml")

    def log_dataset(self, name: str, digest: str, source: str, context: str = "training") -> None:
        """A dataset input of the run (the dashboard's Datasets column): its name, the cache key
        as digest, and where it lies."""
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        ds = Dataset(name=name, digest=digest, source_type="local",
                     source=json.dumps({"uri": redact.redact_text(source)}))
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(ds, [InputTag("mlflow.data.context", context)])])

    def log_model(self, name: str, path: str, params: Mapping[str, Any] | None = None) -> None:
        """The trained model as an MLflow logged model of this run (the Models column), pointing at
        its Hugging Face folder; the weights stay in the stage cache."""
        from mlflow.entities import LoggedModelOutput

        model = self.client.create_logged_model(
            self.experiment_id, name=name, source_run_id=self.run_id, model_type="transformers",
            tags={"path": redact.redact_text(path)},
            params={str(k): _param_value(str(k), v) for k, v in (params or {}).items()})
        self.client.finalize_logged_model(model.model_id, "READY")
        self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, 0)])

    def fail(self, exc: BaseException) -> None:
        """Record an error: ``error`` tag (type and message) and ``error.txt`` (the traceback)."""
        try:
            self.set_tags({"error": f"{type(exc).__name__}: {exc}"})
            self.log_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), "error.txt")
        except Exception as log_exc:  # the store itself may be the problem; keep the original error
            log.warning("could not record the error in MLflow run %s: %s", self.run_id, log_exc)

    def finish(self, status: str = "FINISHED") -> None:
        if not self._finished:
            self.client.set_terminated(self.run_id, status=status)
            self._finished = True


def open_tracker(cfg: DictConfig, run_name: str | None = None, tags: Mapping[str, Any] | None = None,
                 parent_run_id: str | None = None) -> NullTracker:
    """Open the MLflow run for one job, or a :class:`NullTracker` when ``tracking.enabled=false``.

    The run is nested under ``parent_run_id``, else under :data:`PARENT_ENV` when a sweep set it.
    """
    t = cfg.tracking
    if not t.enabled:
        return NullTracker()
    uri, artifacts = store_location(t)
    prepare_store(uri)
    parent = parent_run_id or os.environ.get(PARENT_ENV) or None
    return Tracker(uri, t.experiment, artifacts, run_name, parent, tags)


def prepare_store(uri: str) -> None:
    """Before a run starts: create a local store (locked, see :func:`ensure_store`) and mark KILLED
    the runs whose process is gone (:func:`soulchat.tracking.procs.mark_vanished_runs`)."""
    from mlflow import MlflowClient

    ensure_store(uri)
    mark_vanished_runs(MlflowClient(tracking_uri=uri))
