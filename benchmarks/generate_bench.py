"""Tokens/s of batched generation against one sample at a time: same model, settings, inputs.

    python benchmarks/generate_bench.py                    # tiny model, 64 real inputs, CPU
    python benchmarks/generate_bench.py --samples 64 --max-new-tokens 64 --hidden-size 256

Goal: at least 5x at batch 16 on the CPU. The model is the ``tiny`` GLM (random init: the speed
of a forward pass does not depend on the weights), saved as a Hugging Face folder and loaded by
the ``hf`` generator exactly as the generate stage does; inputs are real SMILECHAT histories
(../shared/data/smilechat, else the bundled demo dialogues) encoded with the paper's format.
Only real tokens count (those after a row's eos are padding).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMILECHAT = REPO.parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


def histories(n: int) -> list[list[dict]]:
    from soulchat.io import read_jsonl
    from soulchat.speakers import ROLE_OF

    path = SMILECHAT if SMILECHAT.exists() else next((REPO / "soulchat" / "data" / "demo").glob("*dialogues*.jsonl"))
    out = []
    for _, rec in read_jsonl(path):
        msgs = [{"role": ROLE_OF.get(m["role"], m["role"]), "content": m["content"]} for m in rec["messages"]]
        for a in range(1, len(msgs)):
            if msgs[a]["role"] == "assistant" and msgs[a - 1]["role"] == "user":
                out.append(msgs[:a])
                break
        if len(out) >= n:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=64)  # the tiny scale's generate.max_samples
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from soulchat.config import compose
    from soulchat.generate.hf import HFGenerator
    from soulchat.train.fit import build_model

    torch.set_num_threads(1)  # one core for both, like the other helpers' benchmarks
    tmp = Path(tempfile.mkdtemp(prefix="genbench-"))
    cfg = compose([f"paths.outputs={tmp}", f"model.hidden_size={args.hidden_size}",
                   f"model.num_layers={args.layers}"])
    _, tokenizer, model = build_model(cfg)
    model.save_pretrained(tmp / "hf")
    tokenizer.save_pretrained(tmp / "hf")

    samples = [{"id": str(i), "history": h} for i, h in enumerate(histories(args.samples))]
    gens = {bs: HFGenerator(tmp / "hf", cfg.corpus.max_input_tokens, args.max_new_tokens, cfg.generate.top_p,
                            cfg.generate.temperature, bs, seed=0, device="cpu", dtype="float32")
            for bs in (1, args.batch_size)}
    for gen in gens.values():
        gen.generate_ids([gen.encode(samples[0])], 0)  # warm-up
    # rounds alternate between the two, so a change in the (shared) machine's load hits both alike
    results = {bs: [0.0, 0] for bs in gens}
    for r in range(args.rounds):
        for bs, gen in (gens.items() if r % 2 == 0 else reversed(gens.items())):
            gen.new_tokens = 0
            t = time.perf_counter()
            for _ in gen.generate(samples):
                pass
            results[bs][0] += time.perf_counter() - t
            results[bs][1] += gen.new_tokens
    table = Table(title=f"hf generator, {len(samples)} inputs x {args.rounds} rounds, <= {args.max_new_tokens} new tokens, "
                        f"hidden {args.hidden_size} x {args.layers} layers, CPU, 1 thread")
    for col in ("batch size", "seconds", "tokens", "tokens/s", "vs batch 1"):
        table.add_column(col, justify="right")
    base = results[1][1] / results[1][0]
    for bs, (sec, tok) in results.items():
        table.add_row(str(bs), f"{sec:.2f}", str(tok), f"{tok / sec:,.0f}", f"{tok / sec / base:.1f}x")
    Console().print(table)
    print(f"speed-up at batch {args.batch_size}: {results[args.batch_size][1] / results[args.batch_size][0] / base:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
