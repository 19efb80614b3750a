"""Deterministic train / validation / test split by source group (no question in two splits).

Dialogues rewritten from one question are one *group* (:func:`group_keys`): those that share an
explicit ``group`` (the PsyQA reader's question id) or whose opening user messages are equal once
normalised. Each group gets a number in [0, 1) from a hash of ``(split_seed, group key)``, so its
split never depends on unrelated dialogues or on the file order, and a test dialogue never opens
with a training dialogue's question. A size below 1 is a fraction of the groups; a size of 1 or more
is a number of samples, filled with whole groups in hash order (the paper's 10,000 test samples).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str
from typing import Sequence

from soulchat.io import stable_hash

SPLITS = ("train", "val", "test")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Text compared for equality of openings: NFKC, case-folded, without spaces and punctuation."""
    s = _NOT_WORD.sub("", text)
    if not unicodedata.is_normalized("NFKC", s):  # a quick check: NFKC itself costs 3x the rest
        s = _NOT_WORD.sub("", unicodedata.normalize("NFKC", s))
    return s.casefold() or text.strip()


def opening(d: dict) -> str:
    """A dialogue's first user message (its question), or its first message when it has none."""
    msgs = d["messages"]
    if msgs and msgs[0]["role"] == "user":  # as the format filter leaves it
        return msgs[0]["content"]
    return next((m["content"] for m in msgs if m["role"] == "user"), msgs[0]["content"] if msgs else d["id"])


def group_keys(dialogues: Sequence[dict]) -> list[str]:
    """Each dialogue's group key: dialogues linked by an equal ``group`` field or an equal normalised
    opening are one group (transitively), keyed by the smallest of its links, so the key does not
    depend on the file order."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        root = k
        while parent[root] != root:
            root = parent[root]
        while parent[k] != root:  # path compression
            parent[k], k = root, parent[k]
        return root

    links, grouped = [], []
    seen: dict[str, str] = {}  # opening -> its normalised key (many dialogues share an opening)
    for d in dialogues:
        text = opening(d)
        key = seen.get(text)
        if key is None:
            key = seen[text] = f"o:{normalise(text)}"
        links.append(key)
        if d.get("group") is not None:
            grouped.append((key, f"g:{d['group']}"))
    if not grouped:
        return links
    for a, b in grouped:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b)] = min(a, b)  # the smaller key is the root: order-independent
    return [find(k) if k in parent else k for k in links]


def _unit(seed: int, dialogue_id: str) -> float:
    """``int(stable_hash([seed, dialogue_id], 13), 16) / 16 ** 13``, building the same JSON directly."""
    if type(seed) is not int or type(dialogue_id) is not str:
        return int(stable_hash([seed, dialogue_id], 13), 16) / 16 ** 13
    blob = f"[{seed},{encode_basestring(dialogue_id)}]"
    return int(hashlib.sha256(blob.encode("utf-8")).hexdigest()[:13], 16) / 16 ** 13


def assign_splits(ids: Sequence[str], samples: Sequence[int], val_size: float, test_size: float,
                  seed: int = 0) -> list[str]:
    """The split of each dialogue; dialogues with one key share a split.

    Args:
        ids: each dialogue's group key (:func:`group_keys`), or its id to split by dialogue.
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
    unit_of: dict[str, float] = {}  # a group's dialogues share one unit, hashed once
    units = [unit_of[i] if i in unit_of else unit_of.setdefault(i, _unit(seed, i)) for i in ids]
    out = ["train"] * len(ids)
    order = sorted(range(len(ids)), key=lambda k: units[k])
    taken, bound = 0, 0.0  # position in the hash order and its unit value, shared by test then val
    for split, size in (("test", test_size), ("val", val_size)):
        if size < 1:
            bound += size
            start = taken
            while taken < len(order) and units[order[taken]] < bound:
                out[order[taken]] = split
                taken += 1
            # a small corpus: a positive fraction gets at least one whole group, if one is left for training
            if size > 0 and taken == start and taken < len(order) and units[order[-1]] != units[order[taken]]:
                first = units[order[taken]]
                while taken < len(order) and units[order[taken]] == first:
                    out[order[taken]] = split
                    taken += 1
                bound = max(bound, first)
        else:
            got = 0
            while taken < len(order) and (got < size or (taken and units[order[taken]] == units[order[taken - 1]])):
                out[order[taken]] = split  # whole groups: a group's dialogues have one unit
                got += samples[order[taken]]
                taken += 1
            bound = max(bound, units[order[taken - 1]]) if taken else bound
    return out
