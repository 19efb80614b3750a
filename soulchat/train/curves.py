"""Training curves: loss, learning rate, tokens/s and padding efficiency per optimizer step.

:class:`CurveRecorder` keeps the whole history in its state, which Lightning saves in every
checkpoint; a resumed run therefore continues the same curve instead of starting a new one.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from soulchat.progress import Every, is_terminal
from soulchat.train.data import batch_stats

log = logging.getLogger(__name__)
LogFn = Callable[[dict[str, float], int], None]


class CurveRecorder(pl.Callback):
    """Records one row per optimizer step (and one per validation) and forwards it to ``log_fn``.

    Rows: ``step``, ``loss`` (mean over the step's micro-batches), ``lr`` (the one the step used),
    ``tokens`` / ``padded`` / ``targets`` (this process's), ``tokens_per_s`` (real tokens of all
    processes, estimated as this one's times the world size), ``padding_efficiency`` (real /
    padded tokens), ``seconds``; validation rows have ``step`` and ``val_loss``.
    """

    def __init__(self, log_fn: LogFn | None = None):
        self.log_fn = log_fn
        self.history: list[dict[str, float]] = []
        self._every = None if is_terminal() else Every()  # not a terminal: a progress line per interval
        self._reset()

    def _reset(self) -> None:
        self._micro = 0
        self._acc = {"tokens": 0, "padded": 0, "targets": 0, "loss": 0.0}
        self._t0 = 0.0
        self._lr = 0.0

    def _emit(self, row: dict[str, float]) -> None:
        self.history.append(row)
        if self.log_fn is not None:
            self.log_fn({f"train/{k}": v for k, v in row.items() if k != "step"}, int(row["step"]))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self._micro == 0:
            self._t0 = time.perf_counter()
            self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._micro += 1
        for k, v in batch_stats(batch).items():
            self._acc[k] += v
        if pl_module.last_loss is not None:
            self._acc["loss"] += float(pl_module.last_loss)
        if self._micro < trainer.accumulate_grad_batches:
            return  # still accumulating towards the next optimizer step
        step = trainer.global_step  # already counts the step just taken
        seconds = time.perf_counter() - self._t0
        acc = self._acc
        self._emit({
            "step": step,
            "loss": acc["loss"] / self._micro,
            "lr": self._lr,
            "tokens": acc["tokens"],
            "padded": acc["padded"],
            "targets": acc["targets"],
            "tokens_per_s": acc["tokens"] * trainer.world_size / max(seconds, 1e-9),
            "padding_efficiency": acc["tokens"] / max(acc["padded"], 1),
            "seconds": seconds,
        })
        if self._every is not None and (self._every() or step >= trainer.max_steps):
            row = self.history[-1]
            log.info("train: step %d/%d  loss %.4f  lr %.2e  %.0f tokens/s", step, trainer.max_steps,
                     row["loss"], row["lr"], row["tokens_per_s"])
        self._reset()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or pl_module.val_loss is None:
            return
        self._emit({"step": trainer.global_step, "val_loss": pl_module.val_loss})

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state.get("history", []))
        self._reset()


class StepCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``every`` optimizer steps, written after that step's validation if any.

    Lightning calls ``on_train_batch_end`` before the validation of the same step; a checkpoint
    taken there would lack the validation row of the curve, which the resumed run would not redo.
    """

    def __init__(self, dirpath: Any, every: int, val_every: int | None):
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0, every_n_train_steps=every)
        self.val_every = val_every  # None: no validation runs

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.val_every and step % self.val_every == 0:
            return  # validation follows: on_validation_end saves
        super().on_train_batch_end(trainer, pl_module, *args)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step % self._every_n_train_steps == 0 and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def plot_curves(history: list[dict[str, float]], path: Any) -> None:
    """Save loss (train and validation), learning rate and tokens/s against step as one PNG."""
    from soulchat.plotting import pyplot

    plt = pyplot()

    train = [r for r in history if "loss" in r]
    val = [r for r in history if "val_loss" in r]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    axes[0].plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    axes[0].set(title="loss (target tokens)", xlabel="step")
    axes[0].legend()
    axes[1].plot([r["step"] for r in train], [r["lr"] for r in train])
    axes[1].set(title="learning rate", xlabel="step")
    axes[2].plot([r["step"] for r in train], [r["tokens_per_s"] for r in train])
    axes[2].set(title="real tokens / s", xlabel="step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
