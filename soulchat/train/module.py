"""The LightningModule around a Hugging Face causal LM, and the DataModule over the sample store."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from soulchat.errors import ConfigError
from soulchat.train.data import Collator, LengthGroupedBatches
from soulchat.train.loss import target_loss, token_loss_sum  # noqa: F401 (the module's loss; benchmarks swap it)
from soulchat.train.schedule import WarmupDecayLR


class CausalLMModule(pl.LightningModule):
    """Fine-tunes ``model`` with the loss on target tokens only (labels are -100 elsewhere).

    Args:
        model: a (possibly LoRA-wrapped) causal LM.
        lr: peak learning rate of :class:`WarmupDecayLR`.
        total_steps, warmup_steps, warmup_type: the schedule.
        weight_decay: AdamW weight decay.
        optimizer: ``adamw`` (torch) or ``cpu_adam`` (DeepSpeed's, required by ZeRO-Offload).
    """

    def __init__(self, model: torch.nn.Module, lr: float, total_steps: int, warmup_steps: int,
                 warmup_type: str = "log", weight_decay: float = 0.0, optimizer: str = "adamw"):
        super().__init__()
        self.model = model
        self.lr, self.total_steps, self.warmup_steps = lr, total_steps, warmup_steps
        self.warmup_type, self.weight_decay, self.optimizer_name = warmup_type, weight_decay, optimizer
        self.last_loss: torch.Tensor | None = None
        self.val_loss: float | None = None
        self._val_sum = torch.zeros(())
        self._val_count = torch.zeros(())

    def forward(self, **batch: torch.Tensor) -> Any:
        return self.model(**batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = target_loss(self.model, batch)
        self.last_loss = loss.detach()
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum = torch.zeros((), device=self.device)
        self._val_count = torch.zeros((), device=self.device)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        mean, n = target_loss(self.model, batch)
        self._val_sum += (mean * n).detach()
        self._val_count += n

    def on_validation_epoch_end(self) -> None:
        total = self.trainer.strategy.reduce(self._val_sum.clone(), reduce_op="sum")
        count = self.trainer.strategy.reduce(self._val_count.clone().float(), reduce_op="sum")
        self.val_loss = float(total / count.clamp(min=1))
        self.log("val_loss", self.val_loss, prog_bar=True, logger=False, sync_dist=False)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.optimizer_name == "cpu_adam":
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            opt = DeepSpeedCPUAdam(params, lr=self.lr, weight_decay=self.weight_decay, adamw_mode=True)
        elif self.optimizer_name == "adamw":
            opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        else:
            raise ConfigError(f"train.optimizer={self.optimizer_name!r}; valid: adamw, cpu_adam")
        sched = WarmupDecayLR(opt, self.total_steps, self.warmup_steps, self.warmup_type)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class SampleDataModule(pl.LightningDataModule):
    """Training and validation batches over two ``SampleSet``-like datasets.

    Its state (the number of micro-batches consumed, over all ranks) is saved in every checkpoint,
    so a resumed run continues with exactly the batches an uninterrupted run would have seen.

    Args:
        train, val: the splits.
        micro_batch_size: samples per micro-batch per process.
        accumulate: micro-batches per optimizer step.
        max_steps: optimizer steps of the whole run.
        pad_id: the tokenizer's pad id.
        seed: the batch stream's seed.
        group: micro-batches per length-sorted group (1: no length grouping).
        pad_to: pad every batch to at least this length (the paper's recipe, for benchmarks).
        val_max_samples: validate on at most this many samples.
    """

    def __init__(self, train: Any, val: Any, micro_batch_size: int, accumulate: int, max_steps: int,
                 pad_id: int, seed: int, group: int = 64, pad_to: int | None = None,
                 val_max_samples: int | None = None):
        super().__init__()
        self.train, self.val = train, val
        self.micro_batch_size, self.accumulate, self.max_steps = micro_batch_size, accumulate, max_steps
        self.collate = Collator(pad_id, pad_to)
        self.seed, self.group, self.val_max_samples = seed, group, val_max_samples
        self.consumed = 0

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        rank, world = self._world()
        sampler = LengthGroupedBatches(self.train.lengths, self.micro_batch_size, self.seed,
                                       start=self.consumed, stop=self.max_steps * self.accumulate * world,
                                       rank=rank, world_size=world, group=self.group)
        return torch.utils.data.DataLoader(self.train, batch_sampler=sampler, collate_fn=self.collate)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        rank, world = self._world()
        n = len(self.val) if self.val_max_samples is None else min(len(self.val), self.val_max_samples)
        lengths = [int(x) for x in self.val.lengths[:n]]
        order = sorted(range(n), key=lambda i: -lengths[i])[rank::world]
        batches = [order[i:i + self.micro_batch_size] for i in range(0, len(order), self.micro_batch_size)]
        return torch.utils.data.DataLoader(self.val, batch_sampler=batches, collate_fn=self.collate)

    def state_dict(self) -> dict[str, int]:
        trainer = self.trainer
        world = trainer.world_size if trainer is not None else 1
        step = trainer.global_step if trainer is not None else 0
        return {"consumed": step * self.accumulate * world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.consumed = int(state["consumed"])
