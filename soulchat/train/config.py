"""The train stage's config section (sizes live in conf/scale/<scale>.yaml)."""

from dataclasses import dataclass
from typing import Optional

from soulchat.stage_config import Choice, StageConfig, operational


class WarmupType(Choice):
    log = "log"  # DeepSpeed's WarmupDecayLR default, the paper's
    linear = "linear"


class Accelerator(Choice):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"
    cuda = "cuda"


@dataclass
class TrainConfig(StageConfig):
    """Fine-tuning with PyTorch Lightning."""

    max_steps: int = 30000  # optimizer steps
    global_batch_size: int = 80  # samples per optimizer step over all devices (the paper's 80)
    micro_batch_size: int = 10  # samples per forward pass per device; accumulation makes up the rest
    lr: float = 5e-5  # peak learning rate of WarmupDecayLR
    warmup_steps: int = 1000
    warmup_type: WarmupType = WarmupType.log  # log (DeepSpeed's default, the paper's) | linear
    weight_decay: float = 0.0
    gradient_clip: Optional[float] = 1.0  # max gradient norm; null: no clipping
    precision: str = "32-true"  # 32-true on the CPU; bf16-mixed / 16-mixed on GPUs
    accelerator: Accelerator = Accelerator.auto  # cpu | gpu | auto
    devices: int = 1  # processes per node (distributed strategies)
    num_nodes: int = 1
    length_group: int = 64  # micro-batches per length-sorted group; 1: plain random batches
    pad_to: Optional[int] = None  # pad every batch to this length (the paper's p-tuning recipe)
    # PyTorch's cuDNN attention (bf16/fp16 on recent GPUs) builds a graph per new shape (0.1-0.8 s on an
    # H200) and dynamic padding makes most micro-batches one: off while training (soulchat.model.attention)
    cudnn_attention: bool = False
    # the GPU's memory for the plan's check before launch (soulchat/train/memory.py); null: the GPU's own
    gpu_memory_gb: Optional[float] = operational(default=None)
    gradient_checkpointing: bool = False  # recompute activations in backward: far less memory, ~30% more compute
    val_every_n_steps: int = 100  # validation (loss on target tokens) every n optimizer steps
    val_max_samples: Optional[int] = 512  # validate on at most this many samples; null: all
    checkpoint_every_n_steps: int = 100  # resumable checkpoint every n optimizer steps
    dry_run: bool = False  # print batch/steps/tokens and the DeepSpeed config, then stop
