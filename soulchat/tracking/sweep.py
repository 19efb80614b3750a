"""Sweeps in MLflow: one parent run per Hydra multirun, one nested child per job.

:class:`MlflowSweepCallback` is configured under ``hydra.callbacks`` in ``conf/config.yaml``:

- ``on_run_start`` / ``on_job_start`` / ``on_multirun_start``: register the secrets the config's
  ``*_env`` fields give (:func:`~soulchat.tracking.secrets.register_env_fields`) and redact logs.
- ``on_multirun_start`` (the launching process, before any job): creates the SQLite store (so
  parallel jobs do not race on a fresh database; single runs do the same), opens the parent run
  (tags: the swept keys, the command line overrides, git state) and puts its id in :data:`~soulchat.tracking.tracker.PARENT_ENV`.
  Jobs inherit the variable: in-process (basic launcher), in worker processes (joblib/loky, started
  after this) and on SLURM nodes (submitit exports the environment).
- ``on_job_start`` (in whichever process runs the job): redacts secrets from the job's
  ``.hydra/*.yaml`` and the sweep's ``multirun.yaml``, and from the job log.
- ``on_multirun_end``: counts the children by status, tags the parent, logs the comparison table
  (:mod:`soulchat.tracking.compare`), ends the parent FAILED if any job failed (FINISHED otherwise)
  and exits with status 1 in that case, after every job has run.

:func:`task_wrapper` wraps the Hydra task function: in a multirun a job that raises is logged (its
child run is already FAILED with the error, see :class:`~soulchat.tracking.tracker.Tracker`) and
returns NaN, so the sweeper goes on to the next job (Hydra's sweepers otherwise stop the sweep).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from soulchat.tracking import redact
from soulchat.tracking.meta import choice_tags, sweep_keys
from soulchat.tracking.secrets import register_env_fields
from soulchat.tracking.tracker import PARENT_ENV, Tracker, git_state, prepare_store, store_location

log = logging.getLogger(__name__)


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def task_wrapper(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Let a sweep go on past a failed job (a single run still raises and exits non-zero)."""

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except Exception:
            if not _is_multirun():
                raise
            from hydra.core.hydra_config import HydraConfig

            hc = HydraConfig.get()
            log.exception("job %s (%s) failed; the sweep goes on", hc.job.num, " ".join(hc.overrides.task))
            return float("nan")

    return wrapped


class MlflowSweepCallback(Callback):
    """Parent MLflow run per multirun; secrets redacted from Hydra's output folders."""

    def __init__(self) -> None:
        self.parent: Tracker | None = None
        self._old_env: str | None = None

    # --- every job (single run or sweep) -----------------------------------------------------
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        redact.install_log_redaction()
        register_env_fields(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        redact.install_log_redaction()
        register_env_fields(config)
        hydra_dir = Path(config.hydra.runtime.output_dir) / str(config.hydra.output_subdir or ".hydra")
        targets = [hydra_dir]
        if config.hydra.mode is not None and str(config.hydra.mode).endswith("MULTIRUN"):
            targets.append(Path(config.hydra.sweep.dir) / "multirun.yaml")
        redact.redact_tree([t for t in targets if t.exists()])

    # --- a sweep -----------------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        redact.install_log_redaction()
        register_env_fields(config)
        if not config.tracking.enabled:
            return
        uri, artifacts = store_location(config.tracking)
        prepare_store(uri)
        overrides = list(config.hydra.overrides.task)
        sweeper_params = config.hydra.sweeper.get("params")
        params = OmegaConf.to_container(sweeper_params, resolve=False) if sweeper_params else {}
        keys = sweep_keys(overrides, params)
        tags = {
            **choice_tags(config.hydra.runtime.choices),
            **git_state(),
            "soulchat.role": "sweep",
            "sweep.keys": ",".join(keys),
            "sweep.overrides": " ".join(overrides),
            "sweep.params": " ".join(f"{k}={v}" for k, v in params.items()),
            "sweep.dir": str(Path(config.hydra.sweep.dir).resolve()),
            "sweep.launcher": str(config.hydra.runtime.choices.get("hydra/launcher")),
            "sweep.sweeper": str(config.hydra.runtime.choices.get("hydra/sweeper")),
        }
        name = config.tracking.run_name or f"sweep {Path(str(config.hydra.sweep.dir)).name} {','.join(keys)}"
        self.parent = Tracker(uri, config.tracking.experiment, artifacts, name, tags=tags)
        self._old_env = os.environ.get(PARENT_ENV)
        os.environ[PARENT_ENV] = self.parent.run_id
        atexit.register(self._abandon)  # the sweeper raised: on_multirun_end will not be called
        log.info("MLflow sweep run %s (%s): children nest under it", self.parent.run_id, uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        redact.redact_tree([p for p in sweep_dir.glob("*.yaml")])
        if self.parent is None:
            return
        parent, self.parent = self.parent, None
        self._restore_env()
        atexit.unregister(self._abandon)
        children = parent.client.search_runs(
            [parent.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'")
        failed = [r for r in children if r.info.status != "FINISHED"]
        # a job that failed before opening its run (e.g. impossible settings) has a folder but no run
        folders = [d for d in sweep_dir.iterdir() if d.is_dir() and d.name.isdigit()] if sweep_dir.is_dir() else []
        jobs = max(len(children), len(folders))
        unopened = jobs - len(children)
        parent.set_tags({"sweep.jobs": jobs, "sweep.failed": len(failed) + unopened})
        if len(failed) < len(children):
            try:
                from soulchat.tracking.compare import compare_runs

                compare_runs(parent.client, [parent.run_id], sweep_dir / "compare", log_to=parent)
            except Exception as exc:  # the table is a convenience; the sweep's runs are what matter
                log.warning("could not build the sweep's comparison table: %s", exc)
        for result in sweep_dir.glob("optimization_results.yaml"):  # the optuna sweeper's best trial
            parent.log_artifact(result, "sweep")
        parent.finish("FAILED" if failed or unopened else "FINISHED")
        if failed or unopened:
            lines = [f"  {r.info.run_name}: {r.info.status} {r.data.tags.get('error', '')}" for r in failed]
            lines += [f"  {unopened} job(s) failed before opening an MLflow run (see the log above)"] if unopened else []
            log.error("%d of %d jobs failed (MLflow run %s):\n%s", len(failed) + unopened, jobs,
                      parent.run_id, "\n".join(lines))
            raise SystemExit(1)  # Hydra turns callback exceptions into warnings; exit status must say it

    def _restore_env(self) -> None:
        if self._old_env is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = self._old_env

    def _abandon(self) -> None:
        if self.parent is not None:
            try:
                self.parent.set_tags({"error": "the sweep stopped before all jobs ran"})
                self.parent.finish("FAILED")
            except Exception:
                pass
