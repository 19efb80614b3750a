"""The Hydra app: compose the config, then run the selected stages top to bottom."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from soulchat import pipeline
from soulchat.config import CONF_DIR
from soulchat.io import write_json
from soulchat.tracking import open_tracker
from soulchat.tracking.tracker import git_state

log = logging.getLogger("soulchat")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass


def job_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags for the MLflow run: experiment, every group's chosen option, scale, git state."""
    tags = {"soulchat.stages": ",".join(pipeline.validate_stages(list(cfg.stages)))}
    if HydraConfig.initialized():
        for group, option in HydraConfig.get().runtime.choices.items():
            if not group.startswith("hydra/") and not group.startswith("schema/"):
                tags[f"choice.{group}"] = str(option)
        tags["experiment"] = str(HydraConfig.get().runtime.choices.get("experiment") or "default")
        tags["scale"] = str(HydraConfig.get().runtime.choices.get("scale"))
    tags.update(git_state())
    return tags


def run(cfg: DictConfig) -> dict[str, float]:
    """Run the pipeline for one composed config and return all stage metrics."""
    stages = pipeline.validate_stages(list(cfg.stages))
    seed_everything(cfg.seed)
    run_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(cfg.paths.outputs)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")

    plan = pipeline.plan(cfg)
    tags = job_tags(cfg)
    write_json(run_dir / "run.json", {"stages": stages, "seed": cfg.seed, "keys": plan.keys,
                                      "cache": {k: str(v) for k, v in plan.paths.items()},
                                      **{k: v for k, v in tags.items() if k.startswith("git_")}})
    tracker = open_tracker(cfg, run_name=cfg.tracking.run_name, tags=tags)
    log.info("stages %s; outputs %s; mlflow run %s", stages, run_dir, tracker.run_id)
    tracker.log_params({"seed": cfg.seed, "stages": ",".join(stages),
                        **{f"key.{k}": v for k, v in plan.keys.items()}})
    tracker.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config/resolved.yaml")

    needed = set(stages)
    for name in reversed(list(pipeline.STAGES)):  # upstream stages the selected ones read
        if name in needed:
            needed.update(pipeline.STAGES[name].inputs(cfg))
    metrics: dict[str, float] = {}
    status = "FAILED"
    try:
        for name in pipeline.STAGES:
            if name not in needed:
                continue
            result = pipeline.run_stage(name, cfg, plan, run_dir, tracker, execute=name in stages)
            stage_metrics = {f"{name}/{k}": v for k, v in result.metrics.items()}
            tracker.log_metrics(stage_metrics)
            tracker.set_tags({f"stage.{name}": "cached" if result.cached else "ran"})
            metrics.update(stage_metrics)
            log.info("stage %s %s in %.1fs -> %s", name, "cached" if result.cached else "done",
                     result.seconds, result.path)
        status = "FINISHED"
    finally:
        tracker.finish(status)
    return metrics


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    metrics = run(cfg)
    # a sweeper (e.g. optuna) optimises the metric the config names
    objective = cfg.get("objective")
    return metrics.get(objective) if objective else None
