"""Near and exact duplicate dialogues: the ``dedup`` filter (MinHash over character shingles, LSH bands)."""

from __future__ import annotations

from typing import Any

import numpy as np

from soulchat.corpus.filters import Filter, Reject


class DedupFilter(Filter):
    """Exact duplicates (the joined text) and near duplicates (MinHash + LSH bands).

    The MinHash is one-permutation hashing: every character shingle gets a 32-bit multiplicative
    hash, the hash space is cut into ``num_perm`` bins by the top bits, and a bin's minimum is one
    signature entry (all bins filled by one ``np.minimum.at``), so a dialogue costs a handful of
    numpy calls. Dialogues that share an LSH band and whose estimate is close are then compared
    exactly (Jaccard of the shingle sets), so the estimate's noise neither drops distinct
    dialogues nor keeps duplicates.
    """

    EMPTY = np.uint32(0xFFFFFFFF)  # a bin without shingles
    MUL = np.uint32(0x9E3779B1)

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        if cfg.num_perm % cfg.bands or cfg.num_perm & (cfg.num_perm - 1):
            raise ValueError(f"corpus.filters.{cfg.name}: num_perm must be a power of two divisible by bands")
        # no tuples in these tables: hundreds of thousands of them would be walked by every garbage
        # collection while the stage runs
        self.exact: dict[int, str] = {}  # hash(text) -> text (compared on a hit: equal hashes are not proof)
        self.exact_ids: dict[int, str] = {}
        self.buckets: list[dict[bytes, int]] = [{} for _ in range(cfg.bands)]  # per band: signature slice -> kept index
        self.kept_ids: list[str] = []
        self.kept_sigs: list[np.ndarray] = []
        self.kept_texts: list[str] = []
        self.shift = np.uint32(32 - (int(cfg.num_perm).bit_length() - 1))  # top bits: the bin
        self.rows = cfg.num_perm // cfg.bands
        self.shingle, self.max_chars, self.near, self.threshold = cfg.shingle, cfg.max_chars, cfg.near, cfg.threshold

    def signature(self, text: str) -> np.ndarray:
        k = self.shingle
        codes = np.frombuffer(text[: self.max_chars].encode("utf-32-le"), dtype=np.uint32)
        n = max(len(codes) - k + 1, 1)
        h = codes[:n] * self.MUL
        for j in range(1, min(k, len(codes))):  # a multiplicative hash of the k code points
            h ^= codes[j: j + n]
            h *= self.MUL
        sig = np.full(self.cfg.num_perm, self.EMPTY)
        np.minimum.at(sig, h >> self.shift if self.cfg.num_perm > 1 else np.zeros(n, np.intp), h)
        return sig

    def jaccard(self, a: str, b: str) -> float:
        """Exact Jaccard similarity of two texts' shingle sets (for LSH candidates only)."""
        k, n = self.shingle, self.max_chars
        sa = {a[i: i + k] for i in range(max(1, min(len(a), n) - k + 1))}
        sb = {b[i: i + k] for i in range(max(1, min(len(b), n) - k + 1))}
        return len(sa & sb) / len(sa | sb)

    def apply(self, d: dict) -> dict:
        text = "\n".join(m["content"] for m in d["messages"])
        key = hash(text)  # str hashes vary between processes, but only equality within this run matters
        first = self.exact.get(key)
        if first is not None and first == text:
            self.counts["exact"] += 1
            raise Reject(f"exact duplicate of {self.exact_ids[key]}")
        if first is None:
            self.exact[key], self.exact_ids[key] = text, d["id"]
        if self.near:
            sig = self.signature(text)
            raw = sig.tobytes()
            width = self.rows * 4
            seen: set[int] = set()
            for b, bucket in enumerate(self.buckets):
                j = bucket.get(raw[b * width:(b + 1) * width])
                if j is not None and j not in seen:
                    seen.add(j)
                    other = self.kept_sigs[j]
                    used = (other != self.EMPTY) | (sig != self.EMPTY)  # bins empty in both say nothing
                    est = float(np.mean(other[used] == sig[used])) if used.any() else 1.0
                    if est >= self.threshold - 0.2:  # the estimate is noisy: check the candidate exactly
                        sim = self.jaccard(text, self.kept_texts[j])
                        if sim >= self.threshold:
                            self.counts["near"] += 1
                            raise Reject(f"near duplicate of {self.kept_ids[j]} (similarity {sim:.2f})")
            for b, bucket in enumerate(self.buckets):
                bucket.setdefault(raw[b * width:(b + 1) * width], len(self.kept_ids))
            self.kept_ids.append(d["id"])
            self.kept_sigs.append(sig)
            self.kept_texts.append(text)
        return d
