"""Throughput, MFU and peak memory of a real model family's shape, randomly initialised, next to the
memory plan's prediction for the same settings: is ``soulchat/train/memory.py`` right?

    python benchmarks/train_bench.py --shape qwen2_5-0.5b [--seq-len 512] [--micro-batch 4] [--steps 10]
        [--warmup-steps 2] [--targets 1.0] [--peak-tflops T] [--scale-down | --layers N --hidden H --vocab V]
        [--set KEY=VALUE ...] [--json PATH]

The shape (``soulchat/model/shapes.py``; ``python -m soulchat.train.plan --shape``) is built with
random weights directly on the training device in ``model.dtype`` of its family's YAML
(``conf/model/<family>.yaml``; ``auto`` is float32), and trained with the train stage's own loop,
``soulchat.train.fit.fit``: Lightning with ``train.precision``, the strategy, AdamW and
WarmupDecayLR, the target loss, ``train.gradient_checkpointing``, ``finetune=lora``; so what is
measured is what a run of the stage would do. Two things are swapped for the run: the model
builder (a shape has no weights folder) and the final checkpoint, which is not written (gigabytes
of disk writing, not training).

Every row is ``--seq-len`` random tokens with no padding, the last ``--targets`` fraction of them
targets: every step has the same shape, so the first ``--warmup-steps`` (not timed) absorb one-off
costs, among them cuDNN attention's graph, which it builds for every new shape (bf16 on Hopper).

Model FLOPs per step (PaLM, Chowdhery et al. 2022, appendix B; as torchtitan counts them): 6 per
parameter of every linear layer and token (2 forward, 4 backward), 4 for a frozen one (LoRA's base:
no weight gradient), the output layer only on target tokens (the loss projects only those), plus
attention ``12 L H Q T`` per token (``L`` layers, ``H`` query heads of size ``Q``, ``T`` the sequence
length; the full square, as PaLM counts it: causal kernels do about half). The input embedding is a
lookup (no FLOPs); recomputation under gradient checkpointing is not counted (model FLOPs, not
hardware FLOPs). MFU divides the achieved rate by the device's dense 16-bit peak (``PEAK_TFLOPS``,
NVIDIA's datasheets) or ``--peak-tflops``; on the CPU, or in 32-bit, only with ``--peak-tflops``.

Peak memory: ``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the peak resident set size
since just before the model was built (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``),
which also counts the interpreter and libraries already loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import NoRows, proc_status, rss_reset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GiB = 1024**3
#: dense bf16/fp16 tensor TFLOP/s by device-name fragment, most specific first (NVIDIA datasheets, SXM
#: unless named; without sparsity)
PEAK_TFLOPS = (("H200 NVL", 835.0), ("H200", 989.0), ("H100 NVL", 835.0), ("H100 PCIe", 756.0),
               ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0))
SCALE_DOWN = {"layers": 2, "head_dim": 16, "vocab": 4096}  # --scale-down: seconds on a CPU


class RandomRows:
    """``n`` rows of ``seq`` random token ids (the SampleSet API), the last ``targets`` of each a target."""

    def __init__(self, n: int, seq: int, vocab: int, targets: int, seed: int):
        self.ids = np.random.default_rng(seed).integers(0, vocab, size=(n, seq), dtype=np.int64)
        self.lengths = np.full(n, seq)
        self.targets = targets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        ids = self.ids[i]
        labels = np.full_like(ids, -100)
        labels[len(ids) - self.targets:] = ids[len(ids) - self.targets:]
        return {"input_ids": ids, "labels": labels}


def model_flops(model: Any, config: Any, tokens: int, targets: int, seq: int) -> dict[str, float]:
    """Model FLOPs (forward + backward) of a step of ``tokens`` tokens, ``targets`` of them targets, in
    rows of ``seq``: ``linear`` (decoder), ``output`` (the output layer on targets), ``attention``."""
    import torch

    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = core.get_output_embeddings()

    def per_token(m: torch.nn.Module) -> int:
        params = [p for p in m.parameters(recurse=False)]
        return sum((6 if p.requires_grad else 4) * p.numel() for p in params)

    linear = sum(per_token(m) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)
    heads, head_dim = config.num_attention_heads, head_size(config)
    return {"linear": float(linear * tokens), "output": float(per_token(head) * targets),
            "attention": float(12 * config.num_hidden_layers * heads * head_dim * seq * tokens)}


def head_size(config: Any) -> int:
    """The attention head size: ``head_dim`` where the config sets one, else hidden / heads."""
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def peak_tflops(device: str, half: bool, given: float | None) -> tuple[float | None, str]:
    """The peak to divide by, and where it comes from (or why there is none)."""
    if given:
        return given, "--peak-tflops"
    if device == "cpu":
        return None, "not reported on the CPU without --peak-tflops"
    if not half:
        return None, "not reported in 32-bit without --peak-tflops (the table holds 16-bit peaks)"
    import torch

    name = torch.cuda.get_device_name()
    for fragment, peak in PEAK_TFLOPS:
        if fragment in name:
            return peak, f"{name}, dense 16-bit"
    return None, f"{name} is not in PEAK_TFLOPS: give --peak-tflops"



@contextlib.contextmanager
def shape_fit(build: Any) -> Iterator[None]:
    """Inside the block the train stage's ``fit`` builds its model with ``build(cfg)`` and writes no
    final checkpoint."""
    import pytorch_lightning as pl

    from soulchat.train import fit as fit_module

    saved = fit_module.build_model, pl.Trainer.save_checkpoint
    fit_module.build_model = build
    pl.Trainer.save_checkpoint = lambda self, *a, **k: None
    try:
        yield
    finally:
        fit_module.build_model, pl.Trainer.save_checkpoint = saved


def compose_cfg(args: argparse.Namespace, work: Path) -> Any:
    """The stage's config for the shape's family, one micro-batch per optimizer step."""
    from soulchat.config import compose
    from soulchat.errors import ConfigError

    family = args.shape.split("-")[0]
    if not (REPO / "conf" / "model" / f"{family}.yaml").exists():
        raise ConfigError(f"--shape {args.shape}: no conf/model/{family}.yaml for its family")
    half = args.seq_len // 2  # the plan reads only max_input_tokens + max_target_tokens
    return compose([f"model={family}", "tracking.enabled=false", f"paths.outputs={work}",
                    f"corpus.max_input_tokens={args.seq_len - half}", f"corpus.max_target_tokens={half}",
                    f"train.micro_batch_size={args.micro_batch}", f"train.global_batch_size={args.micro_batch}",
                    f"train.max_steps={args.warmup_steps + args.steps}", "train.warmup_steps=2",
                    "train.checkpoint_every_n_steps=1000000000", "train.val_every_n_steps=1000000000", *args.set])


def build_config(args: argparse.Namespace) -> Any:
    """The shape's transformers config, shrunk by ``--scale-down`` / ``--layers`` / ``--hidden`` / ``--vocab``."""
    from soulchat.model import shapes

    config = shapes.config_of(args.shape)
    layers, hidden, vocab = args.layers, args.hidden, args.vocab
    if args.scale_down:
        layers = layers or SCALE_DOWN["layers"]
        hidden = hidden or config.num_attention_heads * SCALE_DOWN["head_dim"]
        vocab = vocab or SCALE_DOWN["vocab"]
    return shapes.scaled(config, layers, hidden, vocab) if (layers or hidden or vocab) else config


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="train_bench.py --shape", description=__doc__.split("\n")[0])
    p.add_argument("--shape", required=True, help="a name of soulchat/model/shapes.py (qwen2_5-0.5b, ...)")
    p.add_argument("--seq-len", type=int, default=512, help="tokens of every row (no padding)")
    p.add_argument("--micro-batch", type=int, default=4, help="rows per step (train.micro_batch_size)")
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    p.add_argument("--warmup-steps", type=int, default=2, help="steps run before timing (at least 1)")
    p.add_argument("--targets", type=float, default=1.0, help="fraction of each row that is a target")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU")
    p.add_argument("--scale-down", action="store_true",
                   help=f"{SCALE_DOWN['layers']} layers, heads of {SCALE_DOWN['head_dim']}, a {SCALE_DOWN['vocab']}-token "
                        "vocabulary; the same heads, key/value heads, rotary embedding and tying")
    p.add_argument("--layers", type=int, default=None, help="decoder layers")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (a multiple of the heads)")
    p.add_argument("--vocab", type=int, default=None, help="vocabulary size")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a Hydra override (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.warmup_steps < 1 or args.steps < 1:
        p.error("--steps and --warmup-steps must be at least 1 (the first step allocates the optimizer states)")
    if not 0 < args.targets <= 1:
        p.error("--targets must be in (0, 1]")

    from soulchat.errors import SoulchatError

    work = Path(tempfile.mkdtemp(prefix="shape_bench."))
    try:
        return measure(args, work)
    except SoulchatError as exc:
        raise SystemExit(f"train_bench.py --shape: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Build, train and report (see the module's docstring)."""
    import torch

    from soulchat.errors import ConfigError
    from soulchat.registry import build
    from soulchat.train import memory
    from soulchat.train.fit import fit

    config = build_config(args)
    cfg = compose_cfg(args, work)
    if int(cfg.train.devices) * int(cfg.train.num_nodes) != 1:
        raise ConfigError("train.devices x train.num_nodes must be 1: the benchmark runs one process")
    accelerator = str(cfg.train.accelerator)
    device = "cuda" if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()) else "cpu"
    dtype = getattr(torch, str(cfg.model.dtype)) if str(cfg.model.dtype) != "auto" else torch.float32
    built: dict[str, Any] = {}

    def build_shape(cfg: Any) -> tuple[None, Any, Any]:
        from transformers import AutoModelForCausalLM

        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        built["weights"] = sum(p.numel() * p.element_size() for p in model.parameters())
        model = build("finetune", cfg.finetune, model, list(cfg.model.lora_targets))
        built["model"] = model
        return None, SimpleNamespace(pad_token_id=config.pad_token_id or 0), model

    seq, per_row = args.seq_len, max(1, min(args.seq_len - 1, round(args.targets * args.seq_len)))
    rows = RandomRows(args.micro_batch * (args.warmup_steps + args.steps), seq, config.vocab_size, per_row, int(cfg.seed))
    marks: list[float] = []

    def mark(metrics: dict, step: int) -> None:  # every step's end, once the device is done with it
        if device == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        if "trained" not in built:  # the dtypes training uses (train.precision's policy), not the loaded ones
            built["trained"] = sum(p.numel() * p.element_size() for p in built["model"].parameters())

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = rss_reset()
    with shape_fit(build_shape):
        history = fit(cfg, None, work / "fit", log_fn=mark, datasets=(rows, NoRows()))
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else proc_status("VmHWM")
    steps = [r for r in history if "loss" in r]
    timed = steps[args.warmup_steps:]
    seconds = marks[len(steps) - 1] - marks[args.warmup_steps - 1]
    model = built["model"]
    tokens, targets = timed[0]["tokens"], timed[0]["targets"]  # the same every step
    flops = model_flops(model, config, tokens, targets, seq)
    per_step = sum(flops.values())
    achieved = per_step * len(timed) / seconds / 1e12
    half = "16" in str(cfg.train.precision) or dtype in (torch.bfloat16, torch.float16)
    peak_t, peak_from = peak_tflops(device, half, args.peak_tflops)
    total, trainable = sum(q.numel() for q in model.parameters()), sum(q.numel() for q in model.parameters() if q.requires_grad)
    shape = memory.Shape(total, trainable, config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                         config.vocab_size)
    plan_text, plan = memory.report(cfg, shape, None)
    res = {
        "shape": args.shape, "config": {k: getattr(config, k) for k in (
            "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "vocab_size", "tie_word_embeddings")} | {"head_dim": head_size(config)},
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "dtype": str(dtype),
        "precision": str(cfg.train.precision), "finetune": cfg.finetune.name,
        "gradient_checkpointing": bool(cfg.train.gradient_checkpointing),
        "seq_len": seq, "micro_batch": args.micro_batch, "timed_steps": len(timed), "seconds": seconds,
        "tokens_per_step": tokens, "targets_per_step": targets, "tokens_per_s": tokens * len(timed) / seconds,
        "flops_per_step": flops, "tflops": achieved, "peak_tflops": peak_t,
        "mfu": achieved / peak_t if peak_t else None, "losses": [r["loss"] for r in steps],
        "memory": {"kind": "max_memory_allocated" if device == "cuda" else "peak RSS", "peak": peak,
                   "before": before, "weights_built": built["weights"], "weights_trained": built["trained"],
                   "plan": plan["bytes"]},
        "parameters": total, "trainable": trainable,
    }
    print_report(res, plan_text, peak_from)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return res


def print_report(r: dict[str, Any], plan_text: str, peak_from: str) -> None:
    c, m, f = r["config"], r["memory"], r["flops_per_step"]
    print(f"{r['shape']}: {r['parameters'] / 1e6:,.1f}M parameters, {r['trainable'] / 1e6:,.1f}M trainable "
          f"({r['finetune']}); {c['num_hidden_layers']} layers, hidden {c['hidden_size']}, heads "
          f"{c['num_attention_heads']}/{c['num_key_value_heads']} kv of {c['head_dim']}, ffn {c['intermediate_size']}, "
          f"vocabulary {c['vocab_size']:,}")
    print(f"{r['device']}, weights {r['dtype']}, precision {r['precision']}"
          + (", gradient checkpointing" if r["gradient_checkpointing"] else "")
          + f"; {r['micro_batch']} x {r['seq_len']} tokens a step ({r['targets_per_step']:,} targets), "
          f"{r['timed_steps']} timed steps in {r['seconds']:.2f} s")
    print(f"  tokens/s          {r['tokens_per_s']:,.{0 if r['tokens_per_s'] >= 100 else 2}f}")
    print(f"  achieved          {r['tflops']:.3f} TFLOP/s of model FLOPs ({sum(f.values()) / 1e12:.3f} TFLOP a step: "
          f"linear {f['linear'] / 1e12:.3f} + output {f['output'] / 1e12:.3f} + attention {f['attention'] / 1e12:.3f}; "
          "6 per parameter and token, 4 frozen, + 12 L H Q T per token, PaLM appendix B)")
    print("  MFU               " + (f"{r['mfu']:.1%} of {r['peak_tflops']:g} TFLOP/s ({peak_from})"
                                     if r["mfu"] is not None else peak_from))
    over = f", {(m['peak'] - m['before']) / GiB:.2f} GiB above the process before the model was built" \
        if m["kind"] == "peak RSS" else ""
    print(f"  peak memory       {m['peak'] / GiB:.2f} GiB ({m['kind']}{over}); weights as built "
          f"{m['weights_built'] / GiB:.2f} GiB, while training {m['weights_trained'] / GiB:.2f} GiB")
    print(f"  plan (memory.py)  {m['plan']['total'] / GiB:.2f} GiB = weights {m['plan']['weights'] / GiB:.2f} + gradients "
          f"{m['plan']['gradients'] / GiB:.2f} + optimizer {m['plan']['optimizer'] / GiB:.2f} + activations "
          f"{m['plan']['activations'] / GiB:.2f}; measured / plan {(m['peak'] - m['before']) / m['plan']['total']:.2f}")
    losses = r["losses"]
    print(f"  loss              {losses[0]:.3f} -> {losses[-1]:.3f} (ln vocabulary {math.log(c['vocab_size']):.3f})")
    print(plan_text)
