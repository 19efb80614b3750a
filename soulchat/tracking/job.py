"""Open the MLflow run of one pipeline job, fully described: tags, curated params, config.

Used by :func:`soulchat.app.run`::

    with open_job_run(cfg) as tracker:   # FAILED with the error if the block raises
        ...stages log metrics and artifacts through tracker...

In a sweep the run nests under the sweep's parent run and carries ``sweep.<key>`` tags with this
job's value of every swept key (the parent's ``sweep.keys`` tag says which keys those are).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from omegaconf import DictConfig

from soulchat.tracking.meta import flat_params, job_tags, override_values
from soulchat.tracking.tracker import PARENT_ENV, NullTracker, open_tracker

log = logging.getLogger(__name__)


def swept_values(client: Any, parent_run_id: str, overrides: list[str]) -> dict[str, str]:
    """``sweep.<key> -> value`` for the keys the parent sweep varies, from this job's overrides."""
    keys = [k for k in client.get_run(parent_run_id).data.tags.get("sweep.keys", "").split(",") if k]
    values = override_values(overrides)
    return {f"sweep.{k}": values[k] for k in keys if k in values}


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
    tracker = open_tracker(cfg, run_name=name, tags=tags, parent_run_id=parent)
    try:
        tracker.log_params(flat_params(cfg))
        tracker.log_config(cfg)
    except BaseException as exc:
        tracker.fail(exc)
        tracker.finish("FAILED")
        raise
    return tracker
