"""The Hydra app: compose the config, then run the selected stages top to bottom."""

from __future__ import annotations

import logging
import os
import random
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from soulchat import pipeline, validate
from soulchat.config import CONF_DIR, is_multirun
from soulchat.errors import SoulchatError
from soulchat.io import write_json
from soulchat.model.components import family
from soulchat.tracking import open_job_run, task_wrapper
from soulchat.tracking.meta import job_tags
from soulchat.tracking.redact import config_yaml, redact_text

log = logging.getLogger("soulchat")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass


def run(cfg: DictConfig) -> dict[str, float]:
    """Run the pipeline for one composed config and return all stage metrics."""
    validate.check(cfg)  # impossible settings fail here, before anything is written
    stages = pipeline.validate_stages(list(cfg.stages), cfg)
    seed_everything(cfg.seed)
    run_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(cfg.paths.outputs)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.resolved.yaml").write_text(config_yaml(cfg), encoding="utf-8")  # secrets redacted

    plan = pipeline.plan(cfg)
    tags = job_tags(cfg)
    write_json(run_dir / "run.json", {"stages": stages, "seed": cfg.seed, "keys": plan.keys,
                                      "cache": {k: str(v) for k, v in plan.paths.items()},
                                      **{k: v for k, v in tags.items() if k.startswith("git_")}})
    tracker = open_job_run(cfg)  # tags, curated params, resolved config (all redacted)
    log.info("stages %s; outputs %s; mlflow run %s", stages, run_dir, tracker.run_id)
    tracker.log_params({f"key.{k}": v for k, v in plan.keys.items()})

    metrics: dict[str, float] = {}
    with tracker:  # FAILED with the error as tag and error.txt if a stage raises, else FINISHED
        for name in pipeline.needed(stages, cfg):  # upstream stages are reused, or computed if missing
            result = pipeline.run_stage(name, cfg, plan, run_dir, tracker, selected=name in stages)
            stage_metrics = {f"{name}/{k}": v for k, v in result.metrics.items()}
            tracker.log_metrics(stage_metrics)
            tracker.set_tags({f"stage.{name}": "cached" if result.cached else "ran",
                              f"stage.{name}.path": str(result.path)})
            metrics.update(stage_metrics)
            kind = pipeline.stages()[name].output_kind  # the dashboard's Datasets and Models columns
            if kind == "dataset":
                tracker.log_dataset(name, result.key, str(result.path))
            elif kind == "model" and (result.path / "hf").is_dir():
                tracker.log_model(f"{family(cfg.model)}-{result.key}", str(result.path / "hf"),
                                  {"finetune": cfg.finetune.name, f"{name}.key": result.key})
            log.info("stage %s %s in %.1fs -> %s", name, "cached" if result.cached else "done",
                     result.seconds, result.path)
    log.info("done: run folder %s; MLflow run %s (experiment %r) -- see it with `soulchat ui`",
             run_dir, tracker.run_id, cfg.tracking.experiment)
    return metrics


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
@task_wrapper  # in a multirun a failed job is logged and the sweep goes on
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = run(cfg)
    except SoulchatError as exc:  # the user's mistake; anything else is a bug and keeps its traceback
        if is_multirun() or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        # a single run: one clear line (file, record, field, what to do); the traceback goes to a file
        trace = Path(HydraConfig.get().runtime.output_dir) / "traceback.txt"
        trace.write_text(redact_text(traceback.format_exc()), encoding="utf-8")  # secrets redacted
        log.error("%s: %s  (traceback: %s)", type(exc).__name__, exc, trace)
        raise SystemExit(2) from None
    # a sweeper (e.g. optuna) optimises the metric the config names
    objective = cfg.get("objective")
    return metrics.get(objective) if objective else None
