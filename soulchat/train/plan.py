"""The arithmetic of a run (accumulation, steps, tokens) and the dry-run report.

Kept free of torch so ``scale=paper`` can be checked on any machine before anything is built.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from soulchat.errors import ConfigError


@dataclass(frozen=True)
class TrainPlan:
    """What ``train.*`` amounts to for a given number of processes."""

    world_size: int
    micro_batch_size: int
    accumulate: int
    global_batch_size: int
    max_steps: int
    warmup_steps: int
    max_tokens_per_step: int  # global batch x the longest a sample may be
    mean_tokens_per_step: float | None  # global batch x the mean sample length (when known)
    total_samples: int  # samples seen over the run


def make_plan(cfg: Any, lengths: Sequence[int] | None = None) -> TrainPlan:
    """Derive the plan from the composed config.

    Raises:
        ValueError: ``train.global_batch_size`` is not a multiple of micro batch x processes.
    """
    t = cfg.train
    world = int(t.devices) * int(t.num_nodes)
    per_step = int(t.micro_batch_size) * world
    if t.global_batch_size % per_step:
        raise ConfigError(
            f"train.global_batch_size={t.global_batch_size} must be a multiple of "
            f"train.micro_batch_size x devices x num_nodes = {per_step}; change one of them")
    longest = int(cfg.corpus.max_input_tokens) + int(cfg.corpus.max_target_tokens)
    mean = None
    if lengths is not None and len(lengths):
        mean = float(t.global_batch_size) * float(sum(int(x) for x in lengths)) / len(lengths)
    return TrainPlan(
        world_size=world,
        micro_batch_size=int(t.micro_batch_size),
        accumulate=int(t.global_batch_size) // per_step,
        global_batch_size=int(t.global_batch_size),
        max_steps=int(t.max_steps),
        warmup_steps=int(t.warmup_steps),
        max_tokens_per_step=int(t.global_batch_size) * longest,
        mean_tokens_per_step=mean,
        total_samples=int(t.global_batch_size) * int(t.max_steps),
    )


def deepspeed_config(cfg: Any, micro_batch_size: int) -> dict[str, Any]:
    """The DeepSpeed config a ``deepspeed_*`` strategy passes to ``deepspeed.initialize``.

    Lightning adds ``gradient_accumulation_steps``, gradient clipping and the fp16/bf16 block from
    the trainer (see :func:`effective_deepspeed_config`).
    """
    zero: dict[str, Any] = {
        "stage": int(cfg.stage),
        "overlap_comm": bool(cfg.overlap_comm),
        "contiguous_gradients": bool(cfg.contiguous_gradients),
        "allgather_bucket_size": int(cfg.allgather_bucket_size),
        "reduce_bucket_size": int(cfg.reduce_bucket_size),
    }
    if cfg.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": False}
    if cfg.offload_parameters:
        if int(cfg.stage) != 3:
            raise ConfigError("strategy.offload_parameters=true needs strategy.stage=3")
        zero["offload_param"] = {"device": "cpu", "pin_memory": False}
    return {
        "zero_optimization": zero,
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "zero_allow_untested_optimizer": True,
    }


def uses_deepspeed(cfg: Any) -> bool:
    return "stage" in cfg


def optimizer_for(cfg: Any) -> str:
    """ZeRO-Offload only steps DeepSpeed's own CPU Adam; everything else uses torch's AdamW."""
    return "cpu_adam" if cfg.get("offload_optimizer", False) else "adamw"


def effective_deepspeed_config(cfg: Any, plan: TrainPlan) -> dict[str, Any] | None:
    """The DeepSpeed config as Lightning completes it for the trainer (None without DeepSpeed)."""
    if not uses_deepspeed(cfg.strategy):
        return None
    ds = deepspeed_config(cfg.strategy, plan.micro_batch_size)
    ds["gradient_accumulation_steps"] = plan.accumulate
    ds["train_batch_size"] = plan.global_batch_size
    if cfg.train.gradient_clip:
        ds["gradient_clipping"] = float(cfg.train.gradient_clip)
    precision = str(cfg.train.precision)
    if precision.startswith("16"):
        ds["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16,
                      "loss_scale_window": 1000, "hysteresis": 2, "min_loss_scale": 1}
    elif precision.startswith("bf16"):
        ds["bf16"] = {"enabled": True}
    return ds


def dry_run_report(cfg: Any, lengths: Sequence[int] | None = None) -> tuple[str, dict[str, Any]]:
    """A human-readable summary of the run and the same as a dict (for ``dry_run.json``)."""
    plan = make_plan(cfg, lengths)
    ds = effective_deepspeed_config(cfg, plan)
    info = {"plan": asdict(plan), "strategy": cfg.strategy.name, "precision": str(cfg.train.precision),
            "deepspeed": ds}
    lines = [
        f"strategy {cfg.strategy.name} on {plan.world_size} process(es) ({cfg.train.accelerator}), "
        f"precision {cfg.train.precision}",
        f"effective global batch {plan.global_batch_size} = micro batch {plan.micro_batch_size} "
        f"x accumulation {plan.accumulate} x {plan.world_size} process(es)",
        f"steps {plan.max_steps} (warm-up {plan.warmup_steps}), samples seen {plan.total_samples:,}",
        f"tokens per step at most {plan.max_tokens_per_step:,}"
        + (f", about {plan.mean_tokens_per_step:,.0f} at this corpus's mean length"
           if plan.mean_tokens_per_step else ""),
    ]
    if ds is not None:
        lines.append("DeepSpeed config:\n" + json.dumps(ds, indent=2))
    return "\n".join(lines), info


def main(argv: list[str] | None = None) -> None:
    """``python -m soulchat.train.plan [--shape NAME] [overrides]``: the dry run and the memory per GPU
    without a corpus or weights.

    Composes the config exactly as ``python -m soulchat`` would (e.g. ``scale=paper
    strategy=deepspeed_zero2 train.gpu_memory_gb=80``) and prints the plan, the DeepSpeed config and
    the memory estimate (``--shape qwen2_5-7b``: a real family's shape, built without weights).
    """
    import sys

    from soulchat.config import compose
    from soulchat.train import memory

    args = list(sys.argv[1:] if argv is None else argv)
    shape = None
    if "--shape" in args:
        i = args.index("--shape")
        shape = args[i + 1]
        del args[i:i + 2]
    from soulchat.errors import SoulchatError

    cfg = compose(args)
    from soulchat.train.precision import conflicts

    found = conflicts(cfg)
    if found:  # what the pipeline's compose-time check would refuse
        raise SystemExit("; ".join(found))
    print(dry_run_report(cfg)[0])
    try:
        print(memory.report(cfg, memory.shape_of(cfg, shape), memory.gpu_memory_gb(cfg))[0])
    except SoulchatError as exc:
        print(f"memory per GPU: not estimated: {exc}")


if __name__ == "__main__":
    main()
