"""BLEU, computed the way the reference libraries do, without them.

- :func:`sentence_bleu`: NLTK's ``sentence_bleu`` for one reference, all cumulative orders
  (BLEU-1 … BLEU-n) from one pass over the n-grams, with NLTK's smoothing method 1 (add epsilon
  0.1 to zero counts) or method 3 (NIST geometric: 1/2^k for the k-th zero order).

Sequences are strings (one token per character) or lists/tuples of words.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

MAX_ORDER = 4
#: NLTK ``SmoothingFunction.epsilon`` (method 1)
EPSILON = 0.1
#: NLTK's cumulative weights for BLEU-1 … BLEU-4
CUMULATIVE = tuple(tuple([1.0 / n] * n + [0.0] * (MAX_ORDER - n)) for n in range(1, MAX_ORDER + 1))


def _ngrams(seq: Sequence, n: int) -> Counter:
    if n == 1:
        return Counter(seq)
    return Counter(zip(*[seq[k:] for k in range(n)]))


def matches(hyp: Sequence, ref: Sequence, max_order: int = MAX_ORDER) -> tuple[list[int], list[int]]:
    """Clipped n-gram matches and hypothesis n-gram counts for orders 1..max_order (one reference)."""
    correct, total = [], []
    for n in range(1, max_order + 1):
        if len(hyp) < n:
            correct.append(0)
            total.append(0)
            continue
        h = _ngrams(hyp, n)
        r = _ngrams(ref, n) if len(ref) >= n else {}
        hits = 0
        for gram, c in h.items():
            rc = r.get(gram)
            if rc:
                hits += c if c < rc else rc
        correct.append(hits)
        total.append(len(hyp) - n + 1)
    return correct, total


def char_matches(hyps: Sequence[str], refs: Sequence[str], max_order: int = MAX_ORDER,
                 chunk: int = 64) -> tuple[list[list[int]], list[list[int]]]:
    """:func:`matches` on characters for many pairs at once (numpy; the same integers).

    Each chunk of pairs is encoded as one int64 key per (pair, n-gram, side) — dense character
    ids packed ``bits`` to a character — so one sort per order counts every n-gram of the chunk.
    A chunk with too many distinct characters to pack falls back to :func:`matches`.
    """
    import numpy as np

    correct: list[list[int]] = []
    total: list[list[int]] = []
    for start in range(0, len(hyps), chunk):
        h, r = list(hyps[start:start + chunk]), list(refs[start:start + chunk])
        texts = h + r
        lens = np.fromiter(map(len, texts), np.int64, len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
        uniq, ids = np.unique(codes, return_inverse=True)
        bits = (len(uniq) + 1).bit_length()
        pair_bits = len(h).bit_length()
        if pair_bits + max_order * bits + 1 > 63:
            for a, b in zip(h, r):
                c, t = matches(a, b, max_order)
                correct.append(c)
                total.append(t)
            continue
        ids = ids.reshape(-1).astype(np.int64) + 1  # 0 is never a character
        text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
        pos = np.arange(codes.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
        room = np.repeat(lens, lens) - pos  # characters from here to the end of its text
        tag = ((text_of % len(h)) << (max_order * bits + 1)) | (text_of >= len(h))  # pair, side
        gram = ids.copy()
        c_chunk = np.zeros((len(h), max_order), np.int64)
        for n in range(1, max_order + 1):
            if n > 1:
                gram[:-(n - 1)] = (gram[:-(n - 1)] << bits) | ids[n - 1:]
            ok = room >= n
            keys, counts = np.unique(tag[ok] | (gram[ok] << 1), return_counts=True)
            base = keys >> 1  # hypothesis (side 0) sorts right before reference (side 1)
            both = np.flatnonzero(base[:-1] == base[1:])
            hits = np.minimum(counts[both], counts[both + 1])
            c_chunk[:, n - 1] = np.bincount(base[both] >> (max_order * bits), weights=hits, minlength=len(h))
        correct.extend(c_chunk.tolist())
        total.extend([[max(0, len(a) - n + 1) for n in range(1, max_order + 1)] for a in h])
    return correct, total


def sentence_bleu(hyp: Sequence, ref: Sequence, smoothing: int = 3,
                  weights: Sequence[Sequence[float]] = CUMULATIVE,
                  counts: tuple[list[int], list[int]] | None = None) -> list[float]:
    """NLTK ``sentence_bleu([ref], hyp, weights, SmoothingFunction().method<smoothing>)``, 0–1.

    Args:
        hyp, ref: the hypothesis and the one reference, as token sequences.
        smoothing: 1 or 3 (NLTK's method number).
        weights: one weight tuple per score returned (default: cumulative BLEU-1..4).
        counts: ``matches(hyp, ref)`` when already computed (e.g. by :func:`char_matches`).

    Raises:
        ValueError: an unsupported smoothing method.
    """
    if smoothing not in (1, 3):
        raise ValueError(f"smoothing method {smoothing} is not implemented (use 1 or 3)")
    correct, total = counts or matches(hyp, ref, max(len(w) for w in weights))
    if correct[0] == 0:  # NLTK: no unigram match -> 0, whatever the smoothing
        return [0.0] * len(weights)
    hyp_len, ref_len = len(hyp), len(ref)
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    logs = []
    k = 1
    for c, t in zip(correct, total):
        den = max(1, t)
        if c:
            p = c / den
        elif smoothing == 3:
            p = 1 / (2**k * den)
            k += 1
        else:
            p = EPSILON / den
        logs.append(math.log(p))
    return [bp * math.exp(math.fsum(w * lg for w, lg in zip(ws, logs))) for ws in weights]
