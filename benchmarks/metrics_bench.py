"""Speed of the ``paper`` metric set against the reference libraries, same pairs, same run.

    python benchmarks/metrics_bench.py                # 10,000 real SMILECHAT pairs
    python benchmarks/metrics_bench.py --n 2000       # quicker

Goal: ``paper`` at least 5x faster than nltk (sentence BLEU, one call per sample for the four
cumulative weights) + rouge_chinese + jieba computing the same numbers, with the same values
(max |difference| printed). jieba's own segmentation of every text is the floor: printed too.
Needs ../shared/data/smilechat/dev.jsonl.gz and the test extra (nltk, rouge_chinese).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


def reference_paper(preds, refs):
    import jieba
    import numpy as np
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    weights = [(1.0, 0.0, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0), (1 / 3, 1 / 3, 1 / 3, 0.0), (0.25,) * 4]
    smooth, rouge, rows = SmoothingFunction().method3, Rouge(), []
    for p, r in zip(preds, refs):
        b = sentence_bleu([list(r)], list(p), weights=weights, smoothing_function=smooth)
        s = rouge.get_scores(" ".join(jieba.cut(p)), " ".join(jieba.cut(r)))[0]
        rows.append([100 * x for x in (*b, s["rouge-1"]["f"], s["rouge-2"]["f"], s["rouge-l"]["f"])])
    keys = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l")
    return dict(zip(keys, np.mean(rows, axis=0).tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--chunk", type=int, default=1000, help="pairs per interleaved timing round")
    args = ap.parse_args()

    import jieba
    from rich.console import Console
    from rich.table import Table

    from soulchat.evaluate import score
    from soulchat.evaluate.text import words
    from soulchat.testing.pairs import reply_pairs

    pairs = [(p, r) for p, r in reply_pairs(args.data, args.n) if p.strip()]  # the reference raises on empty
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    jieba.lcut("预热")
    score(preds[:10], refs[:10])  # imports and jieba's dictionary, outside the timings
    words.cache_clear()

    # interleaved chunk by chunk, so a change in the (shared) machine's load hits all three alike
    t_jieba = t_ours = t_ref = 0.0
    ours_sum: dict[str, float] = {}
    ref_sum: dict[str, float] = {}
    for i in range(0, len(pairs), args.chunk):
        p, r = preds[i:i + args.chunk], refs[i:i + args.chunk]
        t = time.perf_counter()
        for a, b in zip(p, r):
            jieba.lcut(a), jieba.lcut(b)
        t_jieba += time.perf_counter() - t
        words.cache_clear()  # texts are not shared between pairs, so nothing is reused anyway
        t = time.perf_counter()
        ours_chunk = score(p, r, "paper")
        t_ours += time.perf_counter() - t
        t = time.perf_counter()
        ref_chunk = reference_paper(p, r)
        t_ref += time.perf_counter() - t
        for acc, res in ((ours_sum, ours_chunk), (ref_sum, ref_chunk)):
            for k, v in res.items():
                acc[k] = acc.get(k, 0.0) + v * len(p)
    ours = {k: v / len(pairs) for k, v in ours_sum.items()}
    ref = {k: v / len(pairs) for k, v in ref_sum.items()}

    diff = max(abs(ours[k] - ref[k]) for k in ref)
    table = Table(title=f"paper metric set on {len(pairs):,} SMILECHAT pairs (one process)")
    for col in ("implementation", "seconds", "pairs/s", "vs reference"):
        table.add_column(col, justify="right")
    for name, sec in (("nltk + rouge_chinese + jieba", t_ref), ("soulchat paper", t_ours),
                      ("jieba alone (floor)", t_jieba)):
        table.add_row(name, f"{sec:.2f}", f"{len(pairs) / sec:,.0f}", f"{t_ref / sec:.1f}x")
    console = Console()
    console.print(table)
    console.print(f"speed-up {t_ref / t_ours:.1f}x (goal >= 5x); max |difference| {diff:.2e} (goal <= 1e-6); "
                  f"ours minus the jieba floor: {t_ours - t_jieba:.2f}s")
    console.print({k: round(v, 4) for k, v in ours.items()})


if __name__ == "__main__":
    main()
