"""The output layer + loss (forward + backward) alone on the CPU: the fused ``LinearCrossEntropy`` in chunks
of ``soulchat.train.loss.chunk_rows`` rows (or ``--rows``) against the unfused projection + cross-entropy,
for a vocabulary and hidden size (default Qwen2.5-0.5B's 151,936 x 896; ``--vocab 4008 --hidden 128``:
the tiny model). Seconds (best of ``--repeats``) and peak memory above the weights, each case in its own
process (peak resident set, Linux ``VmHWM``).

    python benchmarks/loss_bench.py [--vocab 151936] [--hidden 896] [--targets 127 1024] [--rows N ...]
        [--threads 1] [--dtype float32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import proc_status, rss_reset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MiB = 1024**2


def one(vocab: int, hidden: int, targets: int, rows: int | None, dtype: str, threads: int, repeats: int) -> dict:
    """Time one case in this process; ``rows`` None: unfused, 0: the module's ``chunk_rows``."""
    import torch

    from soulchat.train.loss import LinearCrossEntropy, chunk_rows

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    weight = (torch.randn(vocab, hidden) * 0.02).to(getattr(torch, dtype)).requires_grad_()
    hidden_states = torch.randn(targets, hidden, dtype=weight.dtype, requires_grad=True)
    labels = torch.randint(0, vocab, (targets,))
    chunk = None if rows is None else (rows or chunk_rows(weight))
    before = rss_reset()
    best = float("inf")
    for _ in range(repeats):
        weight.grad = hidden_states.grad = None
        start = time.perf_counter()
        if chunk is None:
            logits = torch.nn.functional.linear(hidden_states, weight).float()
            loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
        else:
            loss = LinearCrossEntropy.apply(hidden_states, weight, None, labels, chunk, True)
        loss.backward()
        best = min(best, time.perf_counter() - start)
    return {"rows": chunk, "seconds": best, "peak_mib": (proc_status("VmHWM") - before) / MiB}


def main(argv: list[str]) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab", type=int, default=151936)
    p.add_argument("--hidden", type=int, default=896)
    p.add_argument("--targets", type=int, nargs="+", default=[127, 1024])
    p.add_argument("--rows", type=int, nargs="*", default=[], help="also time these fixed chunk sizes")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--one", type=str, default=None, help=argparse.SUPPRESS)  # a case, in a child process
    args = p.parse_args(argv)
    if args.one:
        targets, rows = json.loads(args.one)
        print(json.dumps(one(args.vocab, args.hidden, targets, rows, args.dtype, args.threads, args.repeats)))
        return []
    out = []
    print(f"vocabulary {args.vocab:,} x hidden {args.hidden}, {args.dtype}, {args.threads} thread(s), "
          f"best of {args.repeats}; output layer + loss, forward + backward")
    for targets in args.targets:
        for rows in [None, 0, *args.rows]:
            cmd = [sys.executable, __file__, *argv, "--one", json.dumps([targets, rows])]
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout)
            name = "unfused" if rows is None else f"fused, {res['rows']} rows/chunk" + (" (chunk_rows)" if rows == 0 else "")
            print(f"  {targets:>6} targets  {name:<34} {res['seconds']:7.3f} s  peak +{res['peak_mib']:7.1f} MiB")
            out.append({"targets": targets, "case": name, **res})
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
