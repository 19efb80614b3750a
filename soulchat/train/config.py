"""The train stage's config section."""

from dataclasses import dataclass

from soulchat.stage_config import StageConfig


@dataclass
class TrainConfig(StageConfig):
    """Fine-tuning with PyTorch Lightning."""

    max_steps: int = 30000
    global_batch_size: int = 80
    micro_batch_size: int = 10
    lr: float = 5e-5
    warmup_steps: int = 1000
    precision: str = "32-true"
    accelerator: str = "auto"
    devices: int = 1
