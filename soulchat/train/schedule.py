"""The paper's learning-rate schedule, ``WarmupDecayLR`` with DeepSpeed's semantics.

Log-shaped warm-up from ``min_lr`` to the peak over ``warmup_steps``, then linear decay to 0 at
``total_steps``. Written as a plain torch scheduler so every strategy (plain, DDP, DeepSpeed) steps
it the same way; ``tests/train/test_schedule.py`` checks it against
``deepspeed.runtime.lr_schedules.WarmupDecayLR`` value by value.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class WarmupDecayLR(LRScheduler):
    """Warm up then decay linearly to zero, stepped once per optimizer step.

    DeepSpeed counts ``last_batch_iteration`` from -1 (learning rate 0 before the first step); here
    ``last_epoch`` counts scheduler steps from 0, so iteration ``k`` is ``last_epoch - 1``.

    Args:
        optimizer: the optimizer; its param groups' ``lr`` is the peak learning rate.
        total_steps: the last optimizer step (learning rate 0 there).
        warmup_steps: warm-up length (at least 2, as in DeepSpeed).
        warmup_type: ``log`` (DeepSpeed's default, the paper's) or ``linear``.
        min_lr: the learning rate warm-up starts from.

    Raises:
        ValueError: a non-positive step count or an unknown warm-up type.
    """

    def __init__(self, optimizer: Optimizer, total_steps: int, warmup_steps: int,
                 warmup_type: str = "log", min_lr: float = 0.0, last_epoch: int = -1):
        if total_steps <= 0 or warmup_steps <= 0:
            raise ValueError(f"WarmupDecayLR needs positive steps (total_steps={total_steps}, "
                             f"warmup_steps={warmup_steps})")
        if warmup_type not in ("log", "linear"):
            raise ValueError(f"warmup_type={warmup_type!r}; valid: log, linear")
        self.total_steps = total_steps
        self.warmup_steps = max(2, warmup_steps)
        self.warmup_type = warmup_type
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def gamma(self, iteration: int) -> float:
        """Fraction of the way from ``min_lr`` to the peak at DeepSpeed iteration ``iteration``."""
        if iteration < 0:
            return 0.0
        if iteration < self.warmup_steps:
            if self.warmup_type == "log":
                return math.log(iteration + 1) / math.log(self.warmup_steps)
            return iteration / self.warmup_steps
        return max(0.0, (self.total_steps - iteration) / max(1.0, self.total_steps - self.warmup_steps))

    def get_lr(self) -> list[float]:
        g = self.gamma(self.last_epoch - 1)
        if self.last_epoch <= 0:  # DeepSpeed's learning rate before any step is exactly 0
            return [0.0 for _ in self.base_lrs]
        return [self.min_lr + (base - self.min_lr) * g for base in self.base_lrs]
