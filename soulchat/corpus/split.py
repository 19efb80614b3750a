"""Deterministic train / validation / test split by dialogue (no dialogue in two splits).

Each dialogue gets a number in [0, 1) from a hash of ``(split_seed, id)``, so its split never depends
on the other dialogues or on the file order. A size below 1 is a fraction of the dialogues; a size of
1 or more is a number of samples, filled with whole dialogues in hash order (the paper's 10,000 test
samples).
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str
from typing import Sequence

from soulchat.io import stable_hash

SPLITS = ("train", "val", "test")


def _unit(seed: int, dialogue_id: str) -> float:
    """``int(stable_hash([seed, dialogue_id], 13), 16) / 16 ** 13``, building the same JSON directly."""
    if type(seed) is not int or type(dialogue_id) is not str:
        return int(stable_hash([seed, dialogue_id], 13), 16) / 16 ** 13
    blob = f"[{seed},{encode_basestring(dialogue_id)}]"
    return int(hashlib.sha256(blob.encode("utf-8")).hexdigest()[:13], 16) / 16 ** 13


def assign_splits(ids: Sequence[str], samples: Sequence[int], val_size: float, test_size: float,
                  seed: int = 0) -> list[str]:
    """The split of each dialogue.

    Args:
        ids: dialogue ids.
        samples: samples each dialogue yields (used when a size is a count).
        val_size, test_size: fraction of dialogues (< 1) or number of samples (>= 1).
        seed: ``corpus.split_seed``.

    Raises:
        ValueError: a negative size, or fractions adding up to 1 or more.
    """
    if val_size < 0 or test_size < 0:
        raise ValueError(f"corpus.val_size / corpus.test_size must be >= 0, got {val_size} / {test_size}")
    if val_size < 1 and test_size < 1 and val_size + test_size >= 1:
        raise ValueError(f"corpus.val_size + corpus.test_size = {val_size + test_size} leaves no training data")
    units = [_unit(seed, i) for i in ids]
    out = ["train"] * len(ids)
    order = sorted(range(len(ids)), key=lambda k: units[k])
    taken, bound = 0, 0.0  # position in the hash order and its unit value, shared by test then val
    for split, size in (("test", test_size), ("val", val_size)):
        if size < 1:
            bound += size
            while taken < len(order) and units[order[taken]] < bound:
                out[order[taken]] = split
                taken += 1
        else:
            got = 0
            while taken < len(order) and got < size:
                out[order[taken]] = split
                got += samples[order[taken]]
                taken += 1
            bound = max(bound, units[order[taken - 1]]) if taken else bound
    return out
