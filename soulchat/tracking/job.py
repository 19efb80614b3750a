"""Open the MLflow run of one pipeline job, fully described: tags, curated params, config.

Used by :func:`soulchat.app.run`::

    with open_job_run(cfg) as tracker:   # FAILED with the error if the block raises
        ...stages log metrics and artifacts through tracker...

In a sweep the run nests under the sweep's parent run and carries ``sweep.<key>`` tags with this
job's value of every swept key (the parent's ``sweep.keys`` tag says which keys those are), and is
named ``job<N> key=value ...``. A single run is named by :func:`single_run_name` (experiment, the
overrides, the time and the run folder's unique suffix); ``tracking.run_name`` names either.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterable

from omegaconf import DictConfig

from soulchat.tracking.meta import NOT_PARAMS, flat_params, job_tags, override_values
from soulchat.tracking.redact import redact_text
from soulchat.tracking.store import run_suffix
from soulchat.tracking.tracker import PARENT_ENV, NullTracker, open_tracker

log = logging.getLogger(__name__)


def swept_values(client: Any, parent_run_id: str, overrides: list[str]) -> dict[str, str]:
    """``sweep.<key> -> value`` for the keys the parent sweep varies, from this job's overrides."""
    keys = [k for k in client.get_run(parent_run_id).data.tags.get("sweep.keys", "").split(",") if k]
    values = override_values(overrides)
    return {f"sweep.{k}": values[k] for k in keys if k in values}


def single_run_name(experiment: str, overrides: Iterable[str], now: float | None = None) -> str:
    """``<experiment> <overrides> <YYYY-mm-dd HH:MM:SS> <suffix>``: what was chosen, when, and the
    process's unique suffix (the same as its run folder's), e.g.
    ``soulchat_full model=qwen2_5 train.lr=1e-4 2025-01-31 14:02:59 3fa9c2``."""
    skip = tuple(f"{k}." for k in NOT_PARAMS) + ("experiment=",)
    chosen = [redact_text(o) for o in overrides if not o.lstrip("+~").startswith(skip)]  # before cutting
    chosen = [o if len(o) <= 40 else o[:37] + "..." for o in chosen]
    what = " ".join(chosen) or "defaults"
    if len(what) > 120:
        what = what[:117] + "..."
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    return f"{experiment} {what} {when} {run_suffix()}"


def open_job_run(cfg: DictConfig) -> NullTracker:
    """Open the job's run (nested under a sweep's parent if there is one) and log what describes it.

    Raises:
        mlflow.exceptions.MlflowException: the tracking store cannot be reached.
    """
    from hydra.core.hydra_config import HydraConfig

    tags = job_tags(cfg)
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    parent = os.environ.get(PARENT_ENV) if cfg.tracking.enabled else None
    name = cfg.tracking.run_name
    if parent and hc is not None:
        from mlflow import MlflowClient

        from soulchat.tracking.tracker import store_location

        swept = swept_values(MlflowClient(store_location(cfg.tracking)[0]), parent, list(hc.overrides.task))
        tags.update(swept)
        if not name:
            name = f"job{hc.job.num} " + " ".join(f"{k[len('sweep.'):]}={v}" for k, v in swept.items())
    elif not name:
        experiment = tags.get("experiment", "default")  # the experiment file, else the MLflow experiment
        name = single_run_name(cfg.tracking.experiment if experiment == "default" else experiment,
                               list(hc.overrides.task) if hc else [])
    tracker = open_tracker(cfg, run_name=name, tags=tags, parent_run_id=parent)
    try:
        tracker.log_params(flat_params(cfg))
        tracker.log_config(cfg)
    except BaseException as exc:
        tracker.fail(exc)
        tracker.finish("FAILED")
        raise
    return tracker
