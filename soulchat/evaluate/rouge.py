"""ROUGE-1/2/L F1 with rouge_chinese's semantics, without rouge_chinese.

rouge_chinese (``Rouge().get_scores(" ".join(hyp_words), " ".join(ref_words))``) scores:

- ROUGE-N on the *sets* of n-grams of the flattened word lists (``exclusive=True``):
  ``p = |H ∩ R| / |H|``, ``r = |H ∩ R| / |R|`` (0 when the set is empty);
- ROUGE-L "summary level", which in this library is the LCS of the two flattened word lists:
  ``p = lcs / len(hyp)``, ``r = lcs / len(ref)``;
- ``f = 2 * (p * r / (p + r + 1e-8))``.

The LCS uses rapidfuzz's bit-parallel ``LCSseq`` on word-id lists (microseconds, not the
reference's O(n·m) Python table). Inputs are the word lists of :func:`soulchat.evaluate.text.rouge_words`.
"""

from __future__ import annotations

from rapidfuzz.distance import LCSseq


def _f(overlap: int, hyp_count: int, ref_count: int) -> float:
    p = overlap / hyp_count if hyp_count else 0.0
    r = overlap / ref_count if ref_count else 0.0
    return 2.0 * ((p * r) / (p + r + 1e-8))


def rouge_f(hyp: list[str], ref: list[str]) -> tuple[float, float, float]:
    """(ROUGE-1, ROUGE-2, ROUGE-L) F1 in 0–1; all 0 when either side is empty (rouge_chinese raises)."""
    if not hyp or not ref:
        return 0.0, 0.0, 0.0
    h1, r1 = set(hyp), set(ref)
    h2, r2 = set(zip(hyp, hyp[1:])), set(zip(ref, ref[1:]))
    # exact word ids (no hashing), so LCSseq compares small integers
    vocab = {w: i for i, w in enumerate(h1 | r1)}
    lcs = LCSseq.similarity(list(map(vocab.__getitem__, ref)), list(map(vocab.__getitem__, hyp)))
    return (
        _f(len(h1 & r1), len(h1), len(r1)),
        _f(len(h2 & r2), len(h2), len(r2)),
        _f(lcs, len(hyp), len(ref)),
    )
