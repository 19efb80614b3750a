"""Where training runs: in the pipeline's process, or in a torchrun process group of its own.

A distributed strategy (``strategy.distributed``: ddp, deepspeed_*) never trains inside the Hydra
job's process. Lightning's own launcher would re-execute ``sys.argv`` for the other ranks, and in a
Hydra multirun that re-runs the whole sweep in every child; DeepSpeed and DDP also leave a global
process group behind that the next job of a sequential sweep would trip over. Instead the stage
writes the resolved config to ``fit_config.yaml`` and starts
``python -m torch.distributed.run --standalone --nproc_per_node=<devices> -m soulchat.train.fit
fit_spec.json``: the workers are plain scripts, not Hydra apps, so there is nothing to re-launch,
and Lightning sees torchrun's environment and uses it as is.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from soulchat.errors import ConfigError
from soulchat.io import write_json
from soulchat.tracking.redact import config_yaml

log = logging.getLogger(__name__)


def needs_own_process(cfg: DictConfig) -> bool:
    """True for distributed strategies and for more than one device or node."""
    t = cfg.train
    return bool(cfg.strategy.get("distributed", False)) or int(t.devices) * int(t.num_nodes) > 1


def torchrun_command(cfg: DictConfig, spec: Path) -> list[str]:
    """The command that starts the worker group for ``spec``."""
    if int(cfg.train.num_nodes) > 1:
        raise ConfigError("train.num_nodes > 1: start `python -m torch.distributed.run --nnodes=... "
                         f"-m soulchat.train.fit {spec}` on every node yourself")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={int(cfg.train.devices)}", "-m", "soulchat.train.fit", str(spec)]


def write_spec(cfg: DictConfig, corpus: Path, out: Path) -> Path:
    """Write ``fit_config.yaml`` (the resolved config, secrets redacted: the workers need none) and
    ``fit_spec.json`` into ``out``; return the spec's path."""
    config = out / "fit_config.yaml"
    config.write_text(config_yaml(cfg), encoding="utf-8")
    spec = out / "fit_spec.json"
    write_json(spec, {"config": str(config), "corpus": str(corpus), "out": str(out)})
    return spec


def run_workers(cfg: DictConfig, corpus: Path, out: Path) -> None:
    """Write the worker spec into ``out`` and train in a torchrun process group.

    Raises:
        RuntimeError: the workers failed (their exit code; their output was streamed to ours).
    """
    spec = write_spec(cfg, corpus, out)
    cmd = torchrun_command(cfg, spec)
    log.info("training in its own process group: %s", " ".join(cmd))
    env = dict(os.environ)
    env.pop("SOULCHAT_PARENT_RUN_ID", None)  # workers never open MLflow runs of their own
    rc = subprocess.run(cmd, env=env).returncode
    if rc != 0:
        raise RuntimeError(f"training workers exited with code {rc} (command: {' '.join(cmd)}); "
                           f"the stage folder {out} keeps the checkpoints, re-run to resume")


def forward_curve(history: list[dict[str, Any]], tracker: Any) -> None:
    """Log a finished run's curve (from a worker group) to the MLflow run, step by step."""
    for row in history:
        tracker.log_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, int(row["step"]))
