"""Training throughput: the paper's pad-to-2,048 recipe vs our per-sample and dialogue modes.

On real SMILECHAT dialogues (``../shared/data/smilechat/dev.jsonl.gz``) and the tiny model, one run
measures, for the same fixed set of dialogues (the same supervised targets, all counsellor replies):

  (a) paper     sample mode, every sample padded to max_input + max_target = 1,536 + 512 tokens
                (as ChatGLM-6B's p-tuning script pads), random batches;
  (b) sample    sample mode, dynamic padding, length-grouped batches (ours, the default);
  (c) dialogue  one sequence per dialogue, loss on every reply, dynamic padding, length-grouped.

Each is trained with the train stage's own loop (soulchat.train.fit: Lightning, WarmupDecayLR,
target-only loss) for one pass over its sequences; (a) runs ``--paper-batches`` batches and
extrapolates its pass time (every batch has the same shape). Printed: real (non-pad) tokens/s,
padding efficiency, tokens processed (padded) and wall time to cover the targets, with ratios
against (a) and (b) measured in the same run.

    python benchmarks/train_bench.py [--dialogues 96] [--paper-batches 4] [--micro-batch 8] [--loss targets|unfused|all]
                                     [--data PATH] [--set KEY=VALUE ...] [--json PATH]
                                     [--parts] [--hidden 128 --layers 2 --heads 4 --kv-heads 2 --intermediate 384]

``--parts`` also times, outside Lightning and without the optimizer, the two parts of one pass of
(b) and (c) on the same batches: the decoder (forward + backward) and the output layer with the
loss on the targets (forward + backward). It counts the floating-point work of each (decoder
matmuls, causal attention, output layer) and prints the rates reached and the (b)/(c) work ratio:
at equal speed per operation, (c) cannot beat (b) by more than that. The output layer's work is
the same in both modes (the same targets). ``--hidden`` etc. set the model's shape (default:
``conf/model/tiny.yaml``'s) to show how the bound moves with the decoder's share. ``--data`` reads
another copy of the dialogues and ``--set`` adds Hydra overrides to every run (``--set
train.accelerator=gpu --set train.precision=bf16-mixed`` on a GPU; ``--parts`` stays on the CPU).

``--loss unfused`` projects the target positions in one matmul and takes the cross-entropy of the
whole logits matrix (before ``soulchat.train.loss.LinearCrossEntropy``); ``--loss all`` computes the output layer at every position (Hugging Face's loss, what the paper's
scripts do) instead of only where a target is predicted (ours); with the tiny model, whose
4,000-word output layer costs about as much per token as its whole decoder, this changes how much
the token savings of (c) show up in time.

``--shape NAME`` (a real family's shape, random weights) measures tokens/s, MFU and peak memory
against the memory plan instead: see ``benchmarks/shape_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from soulchat.speakers import ROLE_OF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import NoRows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


def load_dialogues(path: Path, n: int) -> list[dict]:
    """The first ``n`` dialogues that alternate client/counsellor cleanly (a trailing client dropped)."""
    from soulchat.io import read_jsonl

    out = []
    for _, rec in read_jsonl(path):
        msgs = [{"role": ROLE_OF.get(m["role"], m["role"]), "content": m["content"]} for m in rec["messages"]]
        if msgs and msgs[-1]["role"] == "user":
            msgs = msgs[:-1]
        ok = len(msgs) >= 2 and all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(msgs))
        if ok:
            out.append({"id": rec["id"], "messages": msgs})
        if len(out) == n:
            break
    return out


def build_sets(dialogues: list[dict], tokenizer, max_in: int, max_t: int, folder: Path) -> dict:
    """Sample stores in both modes, written by the corpus stage's own expansion."""
    from soulchat.corpus.expand import expand
    from soulchat.corpus.samples import SampleSet

    sets = {}
    for mode in ("sample", "dialogue"):
        cfg = SimpleNamespace(mode=mode, max_input_tokens=max_in, max_target_tokens=max_t, max_history_turns=None)
        out = folder / mode
        expand(dialogues, ["train"] * len(dialogues), tokenizer, cfg, out)
        sets[mode] = SampleSet(out / "samples" / "train")
    return sets


def device_name(accelerator: str) -> str:
    """What the runs train on, for the report."""
    import platform

    import torch

    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def run(cfg, name: str, train, batches: int, pad_to, group: int, micro: int, workdir: Path) -> dict:
    """Train ``batches`` micro-batches with the stage's loop; sum the per-step figures."""
    from omegaconf import OmegaConf

    from soulchat.train.fit import fit

    c = OmegaConf.merge(cfg, {"train": {"max_steps": batches, "pad_to": pad_to, "length_group": group,
                                        "micro_batch_size": micro, "global_batch_size": micro,
                                        "warmup_steps": max(2, batches // 10),
                                        "checkpoint_every_n_steps": 10**9, "val_every_n_steps": 10**9}})
    cpu0 = time.process_time()
    history = fit(c, None, workdir / name, datasets=(train, NoRows()))
    cpu = time.process_time() - cpu0
    rows = [r for r in history if "loss" in r][1:]  # the first step includes warm-up of the kernels
    tokens, padded = sum(r["tokens"] for r in rows), sum(r["padded"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {"name": name, "steps": len(rows), "tokens": tokens, "padded": padded, "seconds": seconds,
            "targets": sum(r["targets"] for r in rows), "tokens_per_s": tokens / seconds,
            "padded_per_s": padded / seconds, "padding_efficiency": tokens / padded,
            "final_loss": rows[-1]["loss"], "cpu_seconds_run": cpu}


def work(m, vocab: int, pieces: list) -> dict:
    """Floating-point operations (GFLOP, forward + backward) of one pass over ``pieces`` (the length
    groups the decoder runs on): the decoder's matmuls per decoded token, causal attention per row
    (forward QK^T and PV over the lower triangle, backward five such products: FlashAttention
    recomputes QK^T), and the output layer on the targets."""
    from soulchat.train.data import IGNORE

    h, layers, heads, kv = m.hidden_size, m.num_layers, m.num_heads, m.num_kv_heads
    hd = h // heads
    per_layer = h * (heads * hd + 2 * kv * hd) + heads * hd * h + 3 * h * m.intermediate_size
    tokens = sum(ids.numel() for ids, _ in pieces)
    square = sum(ids.size(0) * ids.size(1) ** 2 for ids, _ in pieces)
    targets = sum(int((labels != IGNORE).sum()) for _, labels in pieces)
    out = {"linear": 6 * per_layer * layers * tokens, "attention": 7 * heads * hd * layers * square,
           "output": 6 * targets * vocab * h}
    out = {k: v / 1e9 for k, v in out.items()}
    out["decoder"] = out["linear"] + out["attention"]
    return out


def parts(cfg, datasets: dict, micro: int, repeats: int = 2) -> dict:
    """Seconds of the decoder (forward + backward) and of the output layer + loss (forward +
    backward) for one pass of each mode's batches, as :func:`soulchat.train.loss.target_loss` runs
    them (length groups, fused loss); best of ``repeats`` passes, after one warm-up batch."""
    from soulchat.train.data import IGNORE, Collator, LengthGroupedBatches
    from soulchat.train.fit import build_model
    from soulchat.train.loss import LinearCrossEntropy, chunk_rows, length_groups

    _, tok, model = build_model(cfg)
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    collate = Collator(tok.pad_token_id)
    out = {}
    for name, ds in datasets.items():
        nb = -(-len(ds) // micro)
        batches = [collate([ds[i] for i in b])
                   for b in LengthGroupedBatches(ds.lengths, micro, int(cfg.seed), 0, nb, group=64)]
        pieces = []  # (ids, labels) of every length group of every batch
        for batch in batches:
            lengths = batch["attention_mask"].sum(1).tolist()
            for rows in length_groups(lengths):
                width = max(lengths[r] for r in rows)
                pieces.append((batch["input_ids"][rows, :width], batch["labels"][rows, 1:width]))
        best = {"decoder": float("inf"), "output": float("inf")}
        for rep in range(repeats + 1):
            spent = {"decoder": 0.0, "output": 0.0}
            for ids, labels in pieces[:1] if rep == 0 else pieces:
                keep = labels != IGNORE
                t0 = time.perf_counter()
                hidden = decoder(input_ids=ids).last_hidden_state[:, :-1][keep]
                h = hidden.detach().requires_grad_()
                t1 = time.perf_counter()
                LinearCrossEntropy.apply(h, head.weight, head.bias, labels[keep], chunk_rows(head.weight),
                                         True).backward()
                t2 = time.perf_counter()
                hidden.backward(h.grad)
                t3 = time.perf_counter()
                spent["decoder"] += (t1 - t0) + (t3 - t2)
                spent["output"] += t2 - t1
            if rep:
                best = {k: min(best[k], v) for k, v in spent.items()}
            model.zero_grad(set_to_none=True)
        out[name] = best | {"gflop": work(cfg.model, head.weight.shape[0], pieces)}
    return out


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if "--shape" in argv or any(a.startswith("--shape=") for a in argv):
        import shape_bench

        return shape_bench.main(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dialogues", type=int, default=96)
    p.add_argument("--paper-batches", type=int, default=4)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--max-input", type=int, default=1536)
    p.add_argument("--max-target", type=int, default=512)
    p.add_argument("--loss", choices=["targets", "unfused", "all"], default="targets",
                   help="output layer on target positions only, fused with the loss in chunks (ours), "
                        "the same unfused (logits of all targets at once), or on every position")
    p.add_argument("--parts", action="store_true",
                   help="also time the decoder and the output layer + loss of one pass of (b) and (c) apart")
    p.add_argument("--hidden", type=int, default=None, help="model.hidden_size (default: the tiny model's)")
    p.add_argument("--layers", type=int, default=None, help="model.num_layers")
    p.add_argument("--heads", type=int, default=None, help="model.num_heads")
    p.add_argument("--kv-heads", type=int, default=None, help="model.num_kv_heads")
    p.add_argument("--intermediate", type=int, default=None, help="model.intermediate_size (default 3 x hidden "
                                                                   "when --hidden is given)")
    p.add_argument("--data", type=Path, default=DATA, help="SMILECHAT dialogues (.jsonl or .jsonl.gz)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a Hydra override for every run, e.g. --set train.accelerator=gpu "
                        "--set train.precision=bf16-mixed (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.loss == "unfused":
        from soulchat.train import loss

        loss.fusable = lambda head: False
    if args.loss == "all":
        from soulchat.train import module

        def all_positions_loss(model, batch):
            from soulchat.train.module import token_loss_sum

            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            total, n = token_loss_sum(logits, batch["labels"])
            return total / n.clamp(min=1), n

        module.target_loss = all_positions_loss
    if not args.data.exists():
        sys.exit(f"needs {args.data} (the shared SMILECHAT slice)")

    import numpy as np

    from soulchat.config import compose
    from soulchat.train.data import LengthGroupedBatches
    from soulchat.train.loss import length_groups

    shape = {"hidden_size": args.hidden, "num_layers": args.layers, "num_heads": args.heads,
             "num_kv_heads": args.kv_heads,
             "intermediate_size": args.intermediate or (3 * args.hidden if args.hidden else None)}
    work = Path(tempfile.mkdtemp(prefix="train_bench."))
    cfg = compose([f"paths.outputs={REPO / 'outputs'}", "tracking.enabled=false",
                   f"corpus.max_input_tokens={args.max_input}",
                   f"corpus.max_target_tokens={args.max_target}"]
                  + [f"model.{k}={v}" for k, v in shape.items() if v is not None] + args.set)
    from soulchat.model.tokenizer import get_tokenizer

    tok = get_tokenizer(cfg.model, cfg.paths.cache)
    dialogues = load_dialogues(args.data, args.dialogues)
    sets = build_sets(dialogues, tok, args.max_input, args.max_target, work)
    s, d = sets["sample"], sets["dialogue"]
    n_sample_batches = -(-len(s) // args.micro_batch)
    n_dialogue_batches = -(-len(d) // args.micro_batch)
    pad = args.max_input + args.max_target
    targets = {m: int(sum((ds[i]["labels"][1:] != -100).sum() for i in range(len(ds)))) for m, ds in sets.items()}
    print(f"{len(dialogues)} dialogues -> {len(s)} samples ({int(s.lengths.sum()):,} tokens, "
          f"{targets['sample']:,} targets) | {len(d)} dialogue sequences ({int(np.sum(d.lengths)):,} tokens, "
          f"{targets['dialogue']:,} targets); micro batch {args.micro_batch}; loss on {args.loss}; torch threads "
          f"{__import__('torch').get_num_threads()}")
    m = cfg.model
    print(f"model: hidden {m.hidden_size}, layers {m.num_layers}, heads {m.num_heads}/{m.num_kv_heads} kv, "
          f"intermediate {m.intermediate_size}, vocabulary {len(tok)}; {cfg.train.accelerator} "
          f"({device_name(cfg.train.accelerator)}), precision {cfg.train.precision}")

    t0 = time.perf_counter()
    res = {
        "paper": run(cfg, "paper", s, args.paper_batches + 1, pad, 1, args.micro_batch, work),
        "sample": run(cfg, "sample", s, n_sample_batches + 1, None, 64, args.micro_batch, work),
        "dialogue": run(cfg, "dialogue", d, n_dialogue_batches + 1, None, 64, args.micro_batch, work),
    }
    # a full pass: (a) every sample at the padded length; (b)/(c) exactly one epoch each
    res["paper"]["pass_padded"] = len(s) * pad
    res["paper"]["pass_seconds"] = len(s) * pad / res["paper"]["padded_per_s"]
    for name, ds, nb in (("sample", s, n_sample_batches), ("dialogue", d, n_dialogue_batches)):
        sampler = LengthGroupedBatches(ds.lengths, args.micro_batch, int(cfg.seed), 0, nb, group=64)
        padded = sum(len(b) * int(ds.lengths[b].max()) for b in sampler)
        res[name]["pass_padded"] = padded
        res[name]["pass_seconds"] = padded / res[name]["padded_per_s"]
        # what the decoder runs on: each batch's rows in length groups, each padded to its longest
        res[name]["pass_decoded"] = sum(len(g) * max(int(x) for x in ds.lengths[b][g])
                                        for b in sampler for g in length_groups(ds.lengths[b].tolist()))
    print("process CPU time of each whole run (all threads, setup included): "
          + ", ".join(f"{k} {r['cpu_seconds_run']:.1f}s for {r['steps'] + 1} steps" for k, r in res.items()))
    print(f"(measured in {time.perf_counter() - t0:.0f}s; pass time = padded tokens of one pass / "
          "measured padded tokens/s)\n")

    a, b = res["paper"], res["sample"]
    head = f"{'recipe':<10}{'real tok/s':>12}{'pad eff':>9}{'x(a) tok/s':>11}{'pass tokens':>14}{'pass s':>9}{'x(b) time':>10}"
    print(head)
    print("-" * len(head))
    for r in res.values():
        print(f"{r['name']:<10}{r['tokens_per_s']:>12,.0f}{r['padding_efficiency']:>9.1%}"
              f"{r['tokens_per_s'] / a['tokens_per_s']:>11.2f}{r['pass_padded']:>14,}{r['pass_seconds']:>9.1f}"
              f"{b['pass_seconds'] / r['pass_seconds']:>10.2f}")
    c = res["dialogue"]
    print("(padding efficiency and pass tokens count each micro-batch padded to its longest row; the decoder runs "
          "on length groups of rows: " + ", ".join(f"{k} {r['pass_decoded']:,} tokens "
                                                   f"({(s if k == 'sample' else d).lengths.sum() / r['pass_decoded']:.1%})"
                                                   for k, r in res.items() if "pass_decoded" in r) + ")")
    print(f"\n(b)/(a) real tokens/s: {b['tokens_per_s'] / a['tokens_per_s']:.2f}x (goal >= 4), "
          f"padding efficiency (b) {b['padding_efficiency']:.1%} (goal >= 90%)")
    print(f"(c) processes {b['pass_padded'] / c['pass_padded']:.2f}x fewer tokens than (b) and covers the "
          f"same targets {b['pass_seconds'] / c['pass_seconds']:.2f}x faster (goal >= 3x)")
    if args.parts:
        res["parts"] = parts(cfg, {"sample": s, "dialogue": d}, args.micro_batch)
        pb, pc = res["parts"]["sample"], res["parts"]["dialogue"]
        print("\none pass, outside Lightning, no optimizer (best of 2), seconds: decoder fwd+bwd | output layer + loss")
        for k, r in res["parts"].items():
            print(f"  {k:<10}{r['decoder']:>7.2f} | {r['output']:.2f}")
        print(f"  (b)/(c): decoder {pb['decoder'] / pc['decoder']:.2f}x, output layer {pb['output'] / pc['output']:.2f}x, "
              f"together {(pb['decoder'] + pb['output']) / (pc['decoder'] + pc['output']):.2f}x")
        print("work of that pass, GFLOP (fwd+bwd): decoder matmuls + attention | output layer + loss, and the rates reached")
        for k, r in res["parts"].items():
            g = r["gflop"]
            print(f"  {k:<10}{g['linear']:>7.0f} + {g['attention']:.0f} | {g['output']:.0f}   "
                  f"{g['decoder'] / r['decoder']:.0f} | {g['output'] / r['output']:.0f} GFLOP/s")
        wb, wc = pb["gflop"], pc["gflop"]
        print(f"  (b)/(c) work: {(wb['decoder'] + wb['output']) / (wc['decoder'] + wc['output']):.2f}x: at the same "
              "GFLOP/s in both modes, (c) cannot be more than that much faster than (b)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
