"""Train-stage components: Lightning ``strategy`` choices (conf/strategy/<name>.yaml).

``distributed`` strategies run their training in a process of their own, started with torchrun
(see :mod:`soulchat.train.launch` and docs/train.md): never inside a Hydra job's process.
"""

from dataclasses import dataclass
from typing import Optional

from soulchat.registry import ComponentConfig, Registry
from soulchat.train.config import TrainConfig


@dataclass
class StrategyConfig(ComponentConfig):
    """Lightning's default: one process, one device; trains inside the pipeline's process."""

    distributed: bool = False  # true: train in a torchrun-launched process group


@dataclass
class DDPConfig(StrategyConfig):
    """Distributed data parallel: one process per device, gradients all-reduced."""

    distributed: bool = True
    backend: Optional[str] = None  # process group backend; null: nccl on GPUs, gloo on the CPU
    find_unused_parameters: bool = False


@dataclass
class DeepSpeedConfig(StrategyConfig):
    """DeepSpeed ZeRO (also on the CPU, with gloo, for tests and small runs)."""

    distributed: bool = True
    backend: Optional[str] = None  # null: nccl on GPUs, gloo on the CPU
    stage: int = 2  # ZeRO stage: 2 shards optimizer states + gradients, 3 also parameters
    offload_optimizer: bool = False  # optimizer states (and the step) on the CPU: DeepSpeedCPUAdam
    offload_parameters: bool = False  # stage 3 only: parameters on the CPU
    overlap_comm: bool = True
    contiguous_gradients: bool = True
    allgather_bucket_size: int = 200_000_000
    reduce_bucket_size: int = 200_000_000


def register(registry: Registry) -> None:
    registry.add("stage", "train", TrainConfig, "soulchat.train.stage:STAGE")
    registry.add("strategy", "auto", StrategyConfig, "soulchat.train.strategies:build")
    registry.add("strategy", "ddp", DDPConfig, "soulchat.train.strategies:build")
    for name in ("deepspeed_zero2", "deepspeed_zero3", "deepspeed_zero3_offload"):
        registry.add("strategy", name, DeepSpeedConfig, "soulchat.train.strategies:build",
                     doc=f"DeepSpeed {name.split('_', 1)[1].replace('_', ' ')} (GPU or CPU)")
