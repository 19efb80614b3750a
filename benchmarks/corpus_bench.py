"""Corpus building speed: the naive way vs the floor vs ours, measured in the same run.

    python benchmarks/corpus_bench.py [--data ../shared/data/smilechat/dev.jsonl.gz] [--limit N]

Builds samples from SMILECHAT (44k dialogues, ~249k samples) with the tiny model's tokenizer and the
paper's budgets (1,536 input / 512 target tokens). Each phase runs in its own process, so its peak
memory is its own:

- (a) naive: render every sample's full text (history + target) and tokenise it with one call per
  sample, as ChatGLM-6B's p-tuning preprocessing (which SoulChat's recipe follows) does in its map
  function; the ids are written to disk as int32. The cyclic garbage collector is paused, as in (b)
  and (c), so no phase gains or loses by it.
- (b) floor: tokenise every utterance once, batched (reading the file is not timed); the collector
  is paused as the stage pauses it.
- (c) ours, end to end: the corpus stage (read, clean, split, tokenise, expand, write, statistics)
  with the sensitive-string filter off, so it tokenises the same utterances as (b);
- (c') ours with the paper's default filter chain (it drops ~24% of SMILECHAT).

Goal (issue 3): (c) at most 1.3x (b), and (a) at least 5x (c). Wall time on a shared machine
varies with the load, so CPU seconds (user + system, all threads) are printed too, and (b) and (c)
run ``--repeat`` times (default 3), alternately, the ratio being the median of the pairs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soulchat.speakers import ROLE_OF

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


def cpu_since(c0) -> float:
    c1 = os.times()
    return (c1.user - c0.user) + (c1.system - c0.system)


def load(path: Path, limit: int | None) -> list[list[dict]]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                break
            out.append([{"role": ROLE_OF.get(m["role"], m["role"]), "content": m["content"]}
                        for m in json.loads(line)["messages"]])
    return out


def phase_naive(args, tok) -> dict:
    import numpy as np

    from soulchat.corpus.format import render_input
    from soulchat.corpus.stage import gc_paused

    dialogues = load(args.data, args.limit)
    t0, c0 = time.perf_counter(), os.times()
    samples = tokens = 0
    with gc_paused(), open(Path(args.work) / "naive.bin", "wb") as fh:
        for msgs in dialogues:
            for a, m in enumerate(msgs):
                if m["role"] != "assistant" or a == 0:
                    continue
                a_ids = tok.encode(render_input(msgs[:a]), add_special_tokens=False)[: args.max_input - 1]
                b_ids = tok.encode(m["content"], add_special_tokens=False)[: args.max_target - 2]
                ids = a_ids + b_ids + [tok.eos_token_id]
                fh.write(np.asarray(ids, dtype=np.int32).tobytes())
                samples += 1
                tokens += len(ids)
    return {"seconds": time.perf_counter() - t0, "cpu": cpu_since(c0), "samples": samples, "tokens": tokens}


def phase_floor(args, tok) -> dict:
    from soulchat.corpus.expand import tokenize_texts
    from soulchat.corpus.stage import gc_paused

    texts = [m["content"] for msgs in load(args.data, args.limit) for m in msgs]
    t0, c0 = time.perf_counter(), os.times()
    with gc_paused():  # as in the stage, so both tokenise under the same settings
        _, offsets = tokenize_texts(tok, texts)
    return {"seconds": time.perf_counter() - t0, "cpu": cpu_since(c0), "utterances": len(texts), "tokens": int(offsets[-1])}


def phase_ours(args, tok, paper_filters: bool) -> dict:
    from soulchat.config import compose
    from soulchat.corpus.stage import run
    from soulchat.pipeline import StageContext

    work = Path(args.work)
    src = args.data
    if args.limit is not None:  # the same first N dialogues the other phases read
        src = work / "limited.jsonl"
        if not src.exists():
            with gzip.open(args.data, "rt", encoding="utf-8") as fi, open(src, "w", encoding="utf-8") as fo:
                for n, line in enumerate(fi):
                    if n >= args.limit:
                        break
                    fo.write(line)
    overrides = [f"paths.outputs={work}", f"corpus.source={src}", "corpus.on_error=skip",
                 f"corpus.max_input_tokens={args.max_input}", f"corpus.max_target_tokens={args.max_target}"]
    if not paper_filters:
        overrides.append("corpus.filters.sensitive.enabled=false")
    cfg = compose(overrides)
    out = work / ("ours_paper" if paper_filters else "ours")
    out.mkdir(parents=True, exist_ok=True)
    ctx = StageContext("corpus", cfg, out, {}, "bench", work / "run", None)
    t0, c0 = time.perf_counter(), os.times()
    metrics = run(ctx)
    seconds, cpu = time.perf_counter() - t0, cpu_since(c0)
    return {"seconds": seconds, "cpu": cpu, "samples": int(sum(metrics[f"samples_{s}"] for s in ("train", "val", "test"))),
            "tokens": int(metrics["sample_tokens"]), "dialogue_tokens": int(metrics["dialogue_tokens"]),
            "dialogues": int(metrics["dialogues"]),
            "timings": json.loads((out / "stats.json").read_text(encoding="utf-8"))["timings"]}


def child(args) -> None:
    """Run one phase in this process and print its result as JSON (last line)."""
    from omegaconf import OmegaConf

    from soulchat.model.tokenizer import get_tokenizer

    tok = get_tokenizer(OmegaConf.create({"path": None, "tokenizer": {"vocab_size": args.vocab, "path": None}}),
                        Path(args.work) / "cache")
    res = {"a": lambda: phase_naive(args, tok), "b": lambda: phase_floor(args, tok),
           "c": lambda: phase_ours(args, tok, False), "c_paper": lambda: phase_ours(args, tok, True)}[args.phase]()
    res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="only the first N dialogues (all phases)")
    ap.add_argument("--phases", default="b,c,c_paper,a")
    ap.add_argument("--max-input", type=int, default=1536)
    ap.add_argument("--max-target", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="run (b) and (c) this many times, alternately; ratios are the medians of the pairs")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        return child(args)
    if not args.data.exists():
        print(f"skipped: {args.data} not found; pass --data (SMILECHAT as {{id, messages}} JSON lines)")
        return
    phases = args.phases.split(",")
    order = [p for _ in range(max(1, args.repeat)) for p in phases if p in ("b", "c")]  # b, c, b, c, ...
    order += [p for p in phases if p not in ("b", "c")]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="corpus_bench_") as work:
        for phase in order:
            cmd = [sys.executable, __file__, "--phase", phase, "--work", work, "--data", str(args.data),
                   "--max-input", str(args.max_input), "--max-target", str(args.max_target), "--vocab", str(args.vocab)]
            if args.limit is not None:
                cmd += ["--limit", str(args.limit)]
            print(f"running ({phase}) ...", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
            if proc.returncode:
                sys.exit(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
            runs.setdefault(phase, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report(runs, args)


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def report(runs: dict[str, list[dict]], args) -> None:
    names = {"a": "(a) naive: one call per sample", "b": "(b) floor: utterances once, batched",
             "c": "(c) ours, end to end", "c_paper": "(c') ours, paper filter chain"}
    print(f"\ncorpus benchmark: {args.data.name}{f' (first {args.limit} dialogues)' if args.limit else ''}, "
          f"vocab {args.vocab}, budgets {args.max_input}/{args.max_target}\n")
    print(f"{'phase':40s} {'wall s':>8s} {'cpu s':>8s} {'peak MB':>8s} {'samples':>9s} {'tokens':>12s}")
    for k, vs in runs.items():
        for v in vs:
            print(f"{names[k]:40s} {v['seconds']:8.1f} {v['cpu']:8.1f} {v['peak_mb']:8.0f} "
                  f"{v.get('samples', v.get('utterances', 0)):9d} {v['tokens']:12d}")
    print()
    r = {k: {**vs[-1], "seconds": median([v["seconds"] for v in vs]), "cpu": median([v["cpu"] for v in vs])}
         for k, vs in runs.items()}
    if "b" in runs and "c" in runs:
        pairs = list(zip(runs["b"], runs["c"]))
        walls = [c["seconds"] / b["seconds"] for b, c in pairs]
        cpus = [c["cpu"] / b["cpu"] for b, c in pairs]
        print(f"(c)/(b) wall {median(walls):.2f}x, cpu {median(cpus):.2f}x: median of {len(pairs)} alternated pairs "
              f"(wall {', '.join(f'{x:.2f}' for x in walls)}; cpu {', '.join(f'{x:.2f}' for x in cpus)}) (goal <= 1.3x)")
        print(f"per-sample tokens / dialogue tokens: {r['c']['tokens'] / max(1, r['c']['dialogue_tokens']):.2f}x")
    if "c" in runs:
        parts = ", ".join(f"{k} {median([v['timings'][k]['main_cpu'] for v in runs['c']]):.1f}"
                          for k in runs["c"][-1]["timings"])
        print(f"(c) main-thread CPU seconds by phase, medians (tokenisation runs beside it): {parts}")
    if "a" in r and "c" in r:
        print(f"(a)/(c) wall {r['a']['seconds'] / r['c']['seconds']:.2f}x, cpu {r['a']['cpu'] / r['c']['cpu']:.2f}x "
              f"(goal >= 5x; (c) as its median)")


if __name__ == "__main__":
    main()
