"""The train stage: fine-tune the base model on the corpus stage's samples.

Reads ``<corpus>/samples/{train,val}``; writes into its folder ``checkpoints/`` (resumable),
``curve.json`` + ``curves.png`` (loss, learning rate, tokens/s, padding efficiency per step),
``hf/`` (model + tokenizer, LoRA merged, ZeRO shards gathered) and ``metrics.json``. Returns the
validation loss of the untrained and the trained model, and throughput figures.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from soulchat.io import write_json
from soulchat.model.tokenizer import check_corpus_tokenizer
from soulchat.stage import Stage, StageContext
from soulchat.train import fit as fitting
from soulchat.train import memory
from soulchat.train.card import write_card
from soulchat.train.launch import forward_curve, needs_own_process, run_workers
from soulchat.train.plan import dry_run_report

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> dict[str, float]:
    cfg, out = ctx.cfg, ctx.out
    corpus = ctx.inputs["corpus"]
    check_corpus_tokenizer(corpus, cfg.model)
    train_ds, val_ds = fitting.open_splits(corpus)

    report, info = dry_run_report(cfg, train_ds.lengths)
    mem_text, info["memory"] = memory.report(cfg, memory.shape_of(cfg), memory.gpu_memory_gb(cfg))
    report += "\n" + mem_text
    log.info("train plan:\n%s", report)
    if not info["memory"]["fits"]:
        log.warning("%s", mem_text.splitlines()[-1])
    if cfg.train.dry_run:
        print(report)
        write_json(out / "dry_run.json", info)
        return {"dry_run": 1.0, "global_batch_size": info["plan"]["global_batch_size"]}

    t0 = time.perf_counter()
    if not (out / fitting.DONE).exists():
        if needs_own_process(cfg):
            run_workers(cfg, corpus, out)
        else:
            fitting.fit(cfg, corpus, out, log_fn=ctx.tracker.log_metrics if ctx.tracker else None)
    history = json.loads((out / "curve.json").read_text(encoding="utf-8"))
    if needs_own_process(cfg) and ctx.tracker is not None:
        forward_curve(history, ctx.tracker)
    fit_seconds = time.perf_counter() - t0

    metrics = export_and_score(cfg, out, val_ds)
    metrics.update(curve_summary(history))
    metrics["fit_seconds"] = fit_seconds
    write_json(out / "metrics.json", metrics)
    write_card(out / "hf", cfg, metrics, {"train": len(train_ds), "validation": len(val_ds)})
    publish(ctx, history)
    return metrics


def export_and_score(cfg, out: Path, val_ds) -> dict[str, float]:
    """Write ``hf/`` from the final checkpoint; score the untrained and the trained model on val."""
    import torch

    from soulchat.train.export import load_trained, save_hf, validation_loss
    from soulchat.train.fit import build_model

    t = cfg.train
    device = "cuda" if torch.cuda.is_available() and t.accelerator != "cpu" else "cpu"
    trained, tokenizer = load_trained(cfg, out / "checkpoints" / fitting.FINAL, adapter_dir=out / "adapter")
    save_hf(trained, tokenizer, out / "hf", cfg)  # servable: chat template, sampling, input budget
    kwargs = {"pad_id": tokenizer.pad_token_id, "batch_size": int(t.micro_batch_size),
              "max_samples": t.val_max_samples}
    metrics = {"val_loss": validation_loss(trained.to(device), val_ds, **kwargs),
               "parameters": float(sum(p.numel() for p in trained.parameters()))}
    del trained  # one model in memory at a time (a real one is billions of parameters)
    _, _, untrained = build_model(cfg)
    metrics["val_loss_untrained"] = validation_loss(untrained.to(device), val_ds, **kwargs)
    return metrics


def curve_summary(history: list[dict]) -> dict[str, float]:
    """Totals over the run: steps, tokens, mean tokens/s and padding efficiency. Named apart from the
    per-step curve keys (``tokens``, ``tokens_per_s``, ...), which MLflow keeps as series."""
    rows = [r for r in history if "loss" in r]
    if not rows:
        return {}
    tokens = sum(r["tokens"] for r in rows)
    padded = sum(r["padded"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {"steps": float(rows[-1]["step"]), "final_train_loss": rows[-1]["loss"],
            "total_tokens": float(tokens), "mean_tokens_per_s": tokens / max(seconds, 1e-9),
            "mean_padding_efficiency": tokens / max(padded, 1)}


def publish(ctx: StageContext, history: list[dict]) -> None:
    """Plot the curves; copy them and the metrics to the run folder and MLflow."""
    from soulchat.train.curves import plot_curves

    plot_curves(history, ctx.out / "curves.png")
    ctx.publish(ctx.out / "curves.png", ctx.out / "metrics.json")


#: the stage's declaration (registered in soulchat/train/components.py): the model folder's files
#: (names, sizes, times) are keyed; its tokenizer is in the corpus key
STAGE = Stage(
    "train", run, inputs=lambda c: ("corpus",), config_keys=("train", "model", "finetune", "strategy", "seed"),
    files=lambda c: tuple(p for p in (c.model.get("path"), c.model.tokenizer.get("path")) if p),
    families=("model", "finetune", "strategy"), output_kind="model")
