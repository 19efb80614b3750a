"""Lightning's fit for the train stage: build the model, data and trainer; train; checkpoint.

Runs inside the pipeline's process for ``strategy=auto`` and as a torchrun worker for distributed
strategies (``python -m soulchat.train.fit <spec.json>``, see :mod:`soulchat.train.launch`). Either
way it leaves ``checkpoints/final.ckpt`` (a file, or a DeepSpeed folder of shards) and
``curve.json`` (the per-step history) in the stage folder; :mod:`soulchat.train.export` turns the
checkpoint into a Hugging Face folder.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from soulchat.errors import ConfigError, MissingInput
from soulchat.io import write_json
from soulchat.model.attention import cudnn_attention
from soulchat.train import precision
from soulchat.train.plan import make_plan, optimizer_for

log = logging.getLogger(__name__)

FINAL = "final.ckpt"
DONE = "fit_done.json"


def open_splits(corpus: Path) -> tuple[Any, Any]:
    """The corpus stage's tokenised train and validation splits.

    Raises:
        FileNotFoundError: the corpus folder has no ``samples/train`` (not a corpus stage output).
    """
    from soulchat.corpus.samples import SampleSet

    folder = Path(corpus) / "samples"
    if not (folder / "train").exists():
        raise MissingInput(f"{folder / 'train'} is missing: the train stage reads the corpus "
                                "stage's samples/<split>/ folders; re-run stages=[corpus,train]")
    return SampleSet(folder / "train"), SampleSet(folder / "val")


def build_model(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """``(builder, tokenizer, trainable model)`` for the config, deterministic for ``cfg.seed``."""
    from soulchat.registry import build

    builder = build("model", cfg.model)
    tokenizer = builder.tokenizer(cfg.paths.cache)
    model = builder.model(tokenizer, int(cfg.seed))
    model = build("finetune", cfg.finetune, model, builder.lora_targets)
    return builder, tokenizer, model


def enable_checkpointing(model: Any) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of keeping them: the
    paper's 10 x 2,048-token micro-batch on a 6B model needs it to fit 80 GB. Non-reentrant, so a LoRA
    model (frozen embeddings) still gets gradients."""
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(core, "supports_gradient_checkpointing", False):
        raise ConfigError(f"train.gradient_checkpointing=true: {type(core).__name__} does not support it")
    kwargs = {"use_reentrant": False}
    if hasattr(core, "activation_checkpointing_enable"):  # the name since transformers 5.x
        core.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        core.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    core.config.use_cache = False  # a KV cache is useless in training and conflicts with recomputation


def build_callbacks(out: Path, cfg: DictConfig, log_fn: Any, val_every: int | None) -> list[Any]:
    """The curve recorder (first) and the periodic resumable checkpoint (``val_every``: steps
    between validations, None when there is no validation split)."""
    from soulchat.train.curves import CurveRecorder, StepCheckpoint

    every = max(1, int(cfg.train.checkpoint_every_n_steps))
    return [CurveRecorder(log_fn),
            StepCheckpoint(out / "checkpoints", every, val_every)]


def fit(cfg: DictConfig, corpus: Path, out: Path, log_fn: Any = None,
        datasets: tuple[Any, Any] | None = None) -> list[dict[str, float]]:
    """Train (resuming from ``checkpoints/last.ckpt`` if there is one) and return the curve.

    Args:
        cfg: the whole composed config.
        corpus: the corpus stage's output folder.
        out: the train stage's folder.
        log_fn: ``log_fn(metrics, step)`` for live curves (the MLflow tracker), or None.
        datasets: ``(train, val)`` instead of the corpus's splits (benchmarks).
    """
    import pytorch_lightning as pl

    from soulchat.train.module import CausalLMModule, SampleDataModule
    from soulchat.train.strategies import build as build_strategy

    t = cfg.train
    out = Path(out)
    train_ds, val_ds = datasets or open_splits(corpus)
    plan = make_plan(cfg)
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(cfg.paths.cache) / "torch_extensions"))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    _, tokenizer, model = build_model(cfg)
    model = precision.apply(model, cfg)  # fp32 master weights under *-mixed, whatever model.dtype loaded
    if t.gradient_checkpointing:
        enable_checkpointing(model)
    module = CausalLMModule(model, lr=float(t.lr), total_steps=plan.max_steps,
                            warmup_steps=plan.warmup_steps, warmup_type=str(t.warmup_type),
                            weight_decay=float(t.weight_decay), optimizer=optimizer_for(cfg.strategy))
    data = SampleDataModule(train_ds, val_ds, plan.micro_batch_size, plan.accumulate, plan.max_steps,
                            pad_id=tokenizer.pad_token_id, seed=int(cfg.seed), group=int(t.length_group),
                            pad_to=t.pad_to, val_max_samples=t.val_max_samples)
    val_every = max(1, min(int(t.val_every_n_steps), plan.max_steps))
    callbacks = build_callbacks(out, cfg, log_fn, val_every if len(val_ds) else None)
    trainer = pl.Trainer(
        accelerator=str(t.accelerator), devices=int(t.devices), num_nodes=int(t.num_nodes),
        strategy=build_strategy(cfg.strategy, plan.micro_batch_size, str(t.accelerator)),
        precision=t.precision, max_steps=plan.max_steps, max_epochs=1,  # one pass of our batch stream
        accumulate_grad_batches=plan.accumulate,
        gradient_clip_val=t.gradient_clip, val_check_interval=val_every * plan.accumulate,
        check_val_every_n_epoch=None, limit_val_batches=1.0 if len(val_ds) else 0,
        num_sanity_val_steps=0, logger=False, callbacks=callbacks, use_distributed_sampler=False,
        enable_model_summary=False, default_root_dir=str(out),
    )
    last = out / "checkpoints" / "last.ckpt"
    with warnings.catch_warnings():
        # our batch stream resumes itself (SampleDataModule.state_dict), so this warning is moot
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before.*")
        with cudnn_attention(t.cudnn_attention):
            trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.exists() else None)
    trainer.save_checkpoint(out / "checkpoints" / FINAL)
    history = callbacks[0].history
    if trainer.is_global_zero:
        write_json(out / "curve.json", history)
        write_json(out / DONE, {"steps": trainer.global_step, "world_size": trainer.world_size})
    return history


def main(argv: list[str]) -> None:
    """torchrun entry point: ``python -m soulchat.train.fit <spec.json>``."""
    import json

    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    cfg = OmegaConf.load(spec["config"])
    fit(cfg, Path(spec["corpus"]), Path(spec["out"]))


if __name__ == "__main__":
    main(sys.argv[1:])
