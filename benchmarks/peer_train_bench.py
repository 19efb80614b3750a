"""Side-by-side SFT: LLaMA-Factory vs soulchat's dialogue mode, same model, dialogues and targets.

One run, on the first ``--dialogues`` SMILECHAT dialogues (``../shared/data/smilechat/dev.jsonl.gz``)
and the tiny GLM (its config and tokenizer saved as a Hugging Face folder, the same initial weights
for both):

  peer      LLaMA-Factory's SFT (``run_exp``: its own preprocessing, template and Trainer) on the
            dialogues exported by soulchat's ``llama_factory`` reader (alpaca + ``history``), one
            sequence per dialogue, loss on every counsellor reply (``mask_history: false``), with a
            template registered for the paper's ``用户：…\\n心理咨询师：`` format (written as a driver
            into the run folder and run with the peer's own venv);
  soulchat  ``corpus.mode=dialogue`` (the corpus stage's expansion) and the train stage's loop
            (``soulchat.train.fit``), as benchmarks/train_bench.py runs it.

Both train one epoch, each in its own process under ``nice -n 19`` with the same torch thread count,
batch, learning rate, warm-up, clipping and precision; the sequence budget is large enough that no
dialogue is cut (checked: both sides' target token counts are printed). Measured: wall time of
preprocessing and of the training loop, process CPU time, peak RSS of each process; then both final
models and the initial one are loaded here and scored on the same held-out dialogues with
:func:`soulchat.train.export.validation_loss`.

    python benchmarks/peer_train_bench.py [--dialogues 2000] [--val-dialogues 200] [--threads 1]
        [--micro-batch 8] [--lr 3e-3] [--soulchat-only] [--peer-venv outputs/peer_venv]
        [--peer-set KEY=VALUE ...] [--work DIR] [--json PATH]

LLaMA-Factory is installed into ``--peer-venv`` if it does not import there (never into soulchat's
venv): this interpreter's torch build first, then ``llamafactory`` without its dependencies, then its
other requirements with torch pinned (its torchvision/torchaudio requirements would pull another,
CUDA, torch build); torchaudio, which it imports unconditionally, is an empty stub package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

T_START = time.perf_counter()  # a side's whole process is timed from here

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import NoRows  # noqa: E402
from train_bench import DATA, REPO, load_dialogues  # noqa: E402

PEER = "llamafactory==0.9.5"
BUDGET = 4096  # tokens per sequence on both sides: the longest SMILECHAT dialogue is ~1,900 tiny-tokenizer tokens
TEMPLATE = "soulchat_paper"
DRIVER = '''"""LLaMA-Factory's SFT on the spec's dataset, with the paper's template; writes timings to the spec's result."""
import json, resource, sys, time
t_start = time.perf_counter()
spec = json.load(open(sys.argv[1]))
import torch
torch.set_num_threads(spec["threads"])
from transformers import TrainerCallback
from llamafactory.data.formatter import EmptyFormatter, StringFormatter
from llamafactory.data.template import register_template
from llamafactory.train.tuner import run_exp

register_template(name=spec["template"], format_user=StringFormatter(slots=["用户：{{content}}\\n心理咨询师："]),
                  format_assistant=StringFormatter(slots=["{{content}}", {"eos_token"}]),
                  format_prefix=EmptyFormatter())
marks = {}

class Clock(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kw):
        marks["train_begin"], marks["cpu_begin"] = time.perf_counter(), time.process_time()
        marks["dtype"], marks["threads"] = str(next(model.parameters()).dtype), torch.get_num_threads()
        marks["gradient_checkpointing"] = bool(getattr(model, "is_gradient_checkpointing", False))
    def on_train_end(self, args, state, control, **kw):
        marks["train_end"], marks["cpu_end"] = time.perf_counter(), time.process_time()
        marks["steps"] = state.global_step
        marks["losses"] = [h["loss"] for h in state.log_history if "loss" in h]
        data = kw["train_dataloader"].dataset  # after the clock stopped: counting is not training
        marks["sequences"] = len(data)
        marks["targets"] = sum(sum(x != -100 for x in row["labels"]) for row in data)

t0, c0 = time.perf_counter(), time.process_time()
run_exp(spec["args"], callbacks=[Clock()])
t1 = time.perf_counter()
json.dump({"prep_s": marks["train_begin"] - t0, "train_s": marks["train_end"] - marks["train_begin"],
           "save_s": t1 - marks["train_end"], "cpu_s": marks["cpu_end"] - c0, "total_s": t1 - t_start,
           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **marks},
          open(spec["result"], "w"))
'''


def settings(args) -> dict:
    """What both sides train with (one epoch each)."""
    return {"micro_batch": args.micro_batch, "lr": args.lr, "threads": args.threads, "seed": 42,
            "gradient_clip": 1.0, "weight_decay": 0.0, "budget": BUDGET}


def compose_cfg(s: dict, work: Path):
    from soulchat.config import compose

    half = s["budget"] // 2
    return compose([f"paths.outputs={REPO / 'outputs'}", "tracking.enabled=false", f"seed={s['seed']}",
                    "corpus.mode=dialogue", f"corpus.max_input_tokens={half}", f"corpus.max_target_tokens={half}",
                    f"train.micro_batch_size={s['micro_batch']}", f"train.global_batch_size={s['micro_batch']}",
                    f"train.lr={s['lr']}", f"train.gradient_clip={s['gradient_clip']}",
                    f"train.weight_decay={s['weight_decay']}", "train.precision=32-true", "train.accelerator=cpu",
                    "train.checkpoint_every_n_steps=1000000000", "train.val_every_n_steps=1000000000"])


def expand_dialogues(dialogues: list[dict], tokenizer, cfg, out: Path, split: str):
    """The corpus stage's dialogue-mode expansion of ``dialogues`` into ``out/samples/<split>``."""
    from soulchat.corpus.expand import expand
    from soulchat.corpus.samples import SampleSet

    c = SimpleNamespace(mode="dialogue", max_input_tokens=cfg.corpus.max_input_tokens,
                        max_target_tokens=cfg.corpus.max_target_tokens, max_history_turns=None)
    expand(dialogues, [split] * len(dialogues), tokenizer, c, out)
    return SampleSet(out / "samples" / split)


def targets(ds) -> int:
    """Target tokens of a sample set (positions with a loss)."""
    return int(sum((ds[i]["labels"] != -100).sum() for i in range(len(ds))))


def prepare(args, work: Path) -> dict:
    """Dialogues, the initial model as a Hugging Face folder, the peer's dataset and the validation set."""
    from soulchat.corpus.readers.base import ReaderConfig
    from soulchat.corpus.readers.llama_factory import LlamaFactoryReader
    from soulchat.io import write_json, write_jsonl
    from soulchat.train.fit import build_model

    s = settings(args)
    cfg = compose_cfg(s, work)
    chosen = load_dialogues(args.data, args.dialogues + args.val_dialogues)
    if len(chosen) < args.dialogues + args.val_dialogues:
        sys.exit(f"{args.data} has only {len(chosen)} usable dialogues")
    train, val = chosen[:args.dialogues], chosen[args.dialogues:]
    write_jsonl(work / "train.jsonl", train)
    _, tok, model = build_model(cfg)
    model.save_pretrained(work / "init")
    tok.save_pretrained(work / "init")
    reader = LlamaFactoryReader(ReaderConfig(name="llama_factory"))
    write_jsonl(work / "peer_data" / "train.jsonl", (reader.export(d) for d in train))
    for name, content in reader.export_index({"train": "train.jsonl"}).items():
        write_json(work / "peer_data" / name, content)
    val_set = expand_dialogues(val, tok, cfg, work / "val", "val")
    steps = math.ceil(len(train) / s["micro_batch"])
    return {**s, "work": str(work), "dialogues": len(train), "val_dialogues": len(val), "steps": steps,
            "warmup": max(2, steps // 10), "val_targets": targets(val_set),
            "replies": sum(m["role"] == "assistant" for d in train for m in d["messages"])}


def soulchat_side(spec: dict) -> dict:
    """Expand, train one epoch with the train stage's loop, export the final model (a child process)."""
    import torch

    torch.set_num_threads(spec["threads"])
    from omegaconf import OmegaConf

    from soulchat.io import read_jsonl
    from soulchat.model.tokenizer import get_tokenizer
    from soulchat.train.export import load_trained, save_hf
    from soulchat.train.fit import FINAL, fit

    work = Path(spec["work"])
    cfg = OmegaConf.merge(compose_cfg(spec, work), {"train": {"max_steps": spec["steps"], "warmup_steps": spec["warmup"]}})
    tok = get_tokenizer(cfg.model, cfg.paths.cache)
    t0, c0 = time.perf_counter(), time.process_time()
    dialogues = [rec for _, rec in read_jsonl(work / "train.jsonl")]
    train = expand_dialogues(dialogues, tok, cfg, work / "soulchat", "train")
    t1 = time.perf_counter()
    history = fit(cfg, None, work / "soulchat", datasets=(train, NoRows()))
    t2, c2 = time.perf_counter(), time.process_time()
    model, tok = load_trained(cfg, work / "soulchat" / "checkpoints" / FINAL)
    save_hf(model, tok, work / "soulchat" / "hf", cfg)
    rows = [r for r in history if "loss" in r]
    return {"prep_s": t1 - t0, "train_s": t2 - t1, "save_s": time.perf_counter() - t2, "cpu_s": c2 - c0,
            "steps": len(rows), "targets": targets(train), "sequences": len(train), "threads": torch.get_num_threads(),
            "dtype": str(next(model.parameters()).dtype), "losses": [r["loss"] for r in rows],
            "gradient_checkpointing": False}


def ensure_peer(venv: Path) -> Path:
    """The peer venv's python with LLaMA-Factory importable (installed there first if it is not)."""
    import torch

    py, stub = venv / "bin" / "python", venv / "stub"
    (stub / "torchaudio").mkdir(parents=True, exist_ok=True)
    (stub / "torchaudio" / "__init__.py").write_text('"""Empty: LLaMA-Factory imports torchaudio; text SFT never uses it."""\n')
    env = {**os.environ, "PYTHONPATH": str(stub)}
    if py.exists() and subprocess.run([str(py), "-c", "import llamafactory.train.tuner"], env=env,
                                      capture_output=True).returncode == 0:
        return py
    print(f"installing {PEER} into {venv} (its own venv) ...", flush=True)
    nice = ["nice", "-n", "19"]
    subprocess.run(nice + [sys.executable, "-m", "venv", str(venv)], check=True)
    pin = venv / "torch-pin.txt"
    pin.write_text(f"torch=={torch.__version__}\n")
    pip = nice + [str(py), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["-r", str(pin)], check=True)
    subprocess.run(pip + ["--no-deps", PEER], check=True)
    reqs = subprocess.run([str(py), "-c", "import importlib.metadata as m; print('\\n'.join(r for r in "
                           "m.requires('llamafactory') if 'extra ==' not in r))"],
                          check=True, capture_output=True, text=True).stdout.split("\n")
    skip = {"torch", "torchaudio", "torchvision"}  # they pull another torch build; torch is pinned above
    (venv / "peer-requirements.txt").write_text("\n".join(r for r in reqs if r and re.split(r"[<>=!~;\s\[]", r)[0]
                                                          not in skip))
    subprocess.run(pip + ["-c", str(pin), "-r", str(venv / "peer-requirements.txt")], check=True)
    print("installed; pip's note that torchaudio/torchvision are missing is expected: they are left out", flush=True)
    return py


def peer_args(spec: dict, extra: list[str]) -> dict:
    """LLaMA-Factory's SFT arguments matching soulchat's settings (``--peer-set`` overrides them)."""
    work = Path(spec["work"])
    a = {"stage": "sft", "do_train": True, "model_name_or_path": str(work / "init"), "finetuning_type": "full",
         "dataset": "soulchat_train", "dataset_dir": str(work / "peer_data"), "template": TEMPLATE,
         "cutoff_len": spec["budget"], "mask_history": False, "train_on_prompt": False, "overwrite_cache": True,
         "output_dir": str(work / "peer" / "hf"), "overwrite_output_dir": True,
         "per_device_train_batch_size": spec["micro_batch"], "gradient_accumulation_steps": 1,
         "learning_rate": spec["lr"], "num_train_epochs": 1.0, "lr_scheduler_type": "linear",
         "warmup_steps": spec["warmup"], "max_grad_norm": spec["gradient_clip"], "weight_decay": spec["weight_decay"],
         "disable_gradient_checkpointing": True, "bf16": False, "fp16": False, "seed": spec["seed"],
         "logging_steps": 1, "save_strategy": "no", "report_to": "none", "dataloader_num_workers": 0,
         "plot_loss": False}
    for kv in extra:
        k, _, v = kv.partition("=")
        a[k] = json.loads(v) if v[:1] in "0123456789-[{tfn" and v not in ("", "-") else v
    return a


def run_child(cmd: list[str], env: dict, log: Path) -> None:
    """Run one side under ``nice -n 19``; its output goes to ``log`` (shown if it fails)."""
    with open(log, "w") as f:
        rc = subprocess.run(["nice", "-n", "19", *cmd], env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        sys.exit(f"{cmd[1]} failed (exit {rc}); its log, {log}, ends:\n" + log.read_text()[-3000:])


def score(spec: dict, folders: dict[str, Path]) -> dict[str, float]:
    """Validation loss of each Hugging Face folder on the same held-out dialogues."""
    import torch
    from transformers import AutoModelForCausalLM

    from soulchat.corpus.samples import SampleSet
    from soulchat.train.export import validation_loss

    torch.set_num_threads(spec["threads"])
    val = SampleSet(Path(spec["work"]) / "val" / "samples" / "val")
    out = {}
    for name, folder in folders.items():
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        out[name] = validation_loss(model, val, model.config.pad_token_id, batch_size=8)
    return out


def table(spec: dict, res: dict) -> str:
    """Both sides' settings and figures, and peer / soulchat where a ratio means something."""
    sides = [k for k in ("peer", "soulchat") if k in res]
    fmt = {"s": "{:.1f}", "mb": "{:,.0f}", "loss": "{:.3f}"}
    rows = [("batch (micro x accumulation)", {k: f"{spec['micro_batch']} x 1" for k in sides}, None),
            ("learning rate, schedule", {"peer": f"{spec['lr']:g}, linear warm-up {spec['warmup']} + linear decay",
                                         "soulchat": f"{spec['lr']:g}, log warm-up {spec['warmup']} + linear decay"}, None),
            ("optimizer steps (one epoch)", {k: str(res[k]["steps"]) for k in sides}, None),
            ("precision", {k: res[k]["dtype"].replace("torch.", "") for k in sides}, None),
            ("torch threads", {k: str(res[k]["threads"]) for k in sides}, None),
            ("gradient checkpointing", {k: str(res[k]["gradient_checkpointing"]) for k in sides}, None),
            ("target tokens", {k: f"{res[k]['targets']:,}" for k in sides if "targets" in res[k]}, None)]
    figures = [("preprocessing, s", "prep_s", "s"), ("training loop, s", "train_s", "s"),
               ("preprocessing + training, s", "work_s", "s"), ("CPU time of that, s", "cpu_s", "s"),
               ("whole process (imports, save), s", "total_s", "s"), ("peak RSS, MB", "rss_mb", "mb"),
               ("training loss, mean of the last 10 steps", "last_loss", "loss"), ("validation loss", "val_loss", "loss")]
    for label, key, kind in figures:
        vals = {k: fmt[kind].format(res[k][key]) for k in sides}
        ratio = f"{res['peer'][key] / res['soulchat'][key]:.2f}x" if len(sides) == 2 and kind != "loss" else None
        rows.append((label, vals, ratio))
    head = ["", *(("LLaMA-Factory" if k == "peer" else "soulchat") for k in sides)] + (["peer / soulchat"] if len(sides) == 2 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, vals, ratio in rows:
        lines.append("| " + " | ".join([label, *(vals.get(k, "-") for k in sides)] + ([ratio or ""] if len(sides) == 2 else [])) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dialogues", type=int, default=2000, help="training dialogues (the first usable ones)")
    p.add_argument("--val-dialogues", type=int, default=200, help="held-out dialogues after them, scored for both")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads on both sides")
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--data", type=Path, default=DATA, help="SMILECHAT dialogues (.jsonl or .jsonl.gz)")
    p.add_argument("--soulchat-only", action="store_true", help="skip LLaMA-Factory (no install, no peer run)")
    p.add_argument("--peer-venv", type=Path, default=REPO / "outputs" / "peer_venv")
    p.add_argument("--peer-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one of LLaMA-Factory's arguments, e.g. --peer-set train_sampling_strategy=group_by_length")
    p.add_argument("--work", type=Path, default=None, help="run folder (default: a new one under outputs/)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--side", nargs=1, help=argparse.SUPPRESS)  # a child process: --side <spec.json>
    args = p.parse_args(argv)
    if args.side:
        spec = json.loads(Path(args.side[0]).read_text())
        res = soulchat_side(spec) | {"total_s": time.perf_counter() - T_START,
                                     "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        Path(spec["work"], "soulchat_result.json").write_text(json.dumps(res))
        return res
    if not args.data.exists():
        sys.exit(f"needs {args.data} (the shared SMILECHAT slice)")
    (REPO / "outputs").mkdir(exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="peer_bench.", dir=REPO / "outputs"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    spec = prepare(args, work)
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    res = {}
    if not args.soulchat_only:
        py = ensure_peer(args.peer_venv)
        (work / "peer").mkdir(exist_ok=True)
        (work / "peer" / "driver.py").write_text(DRIVER)
        (work / "peer" / "spec.json").write_text(json.dumps({
            "threads": args.threads, "template": TEMPLATE, "result": str(work / "peer" / "result.json"),
            "args": peer_args(spec, args.peer_set)}))
        run_child([str(py), str(work / "peer" / "driver.py"), str(work / "peer" / "spec.json")],
                  env | {"PYTHONPATH": str(args.peer_venv / "stub")}, work / "peer.log")
        res["peer"] = json.loads((work / "peer" / "result.json").read_text())
    run_child([sys.executable, str(Path(__file__).resolve()), "--side", str(work / "spec.json")], env, work / "soulchat.log")
    res["soulchat"] = json.loads((work / "soulchat_result.json").read_text())
    folders = {"init": work / "init", "soulchat": work / "soulchat" / "hf"} | (
        {"peer": work / "peer" / "hf"} if "peer" in res else {})
    losses = score(spec, folders)
    for k, r in res.items():
        r |= {"work_s": r["prep_s"] + r["train_s"], "val_loss": losses[k], "last_loss": sum(r["losses"][-10:]) / len(r["losses"][-10:])}
    res["val_loss_init"], res["spec"] = losses["init"], spec
    print(f"{spec['dialogues']} SMILECHAT dialogues ({spec['replies']:,} counsellor replies) for training, "
          f"{spec['val_dialogues']} held out ({spec['val_targets']:,} target tokens, validation loss of the initial "
          f"model {losses['init']:.3f}); tiny GLM, full fine-tune, one epoch, CPU; run in {time.perf_counter() - t0:.0f} s, "
          f"folder {work}\n")
    print(table(spec, res))
    if "peer" in res:
        s, q = res["soulchat"], res["peer"]
        print(f"\nsoulchat covers the same targets {q['work_s'] / s['work_s']:.2f}x faster (goal >= 2x), "
              f"validation loss {s['val_loss']:.3f} vs {q['val_loss']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
