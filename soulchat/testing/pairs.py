"""Real (prediction, reference)-like text pairs from a dialogue file, for benchmarks and checks.

A dialogue's counsellor replies are paired in turn (1st with 2nd, 3rd with 4th, ...): two real
texts on one topic in one voice, which overlap the way a model's reply overlaps a reference. No
text is in two pairs, so a tokenisation cache cannot flatter a benchmark.
Accepts every counsellor name in :mod:`soulchat.speakers` (``assistant``, SMILECHAT's ``counselor``, ...).
"""

from __future__ import annotations

from pathlib import Path

from soulchat import speakers
from soulchat.io import InputError, read_jsonl

COUNSELLOR_ROLES = {n for n, role in speakers.ROLE_OF.items() if role == speakers.ASSISTANT}


def reply_pairs(path: str | Path, n: int) -> list[tuple[str, str]]:
    """The first ``n`` (reply, next reply) pairs of ``path`` (JSONL, ``.gz`` allowed).

    Raises:
        InputError: a record without a ``messages`` list.
    """
    pairs: list[tuple[str, str]] = []
    for line, rec in read_jsonl(path):
        msgs = rec.get("messages") if isinstance(rec, dict) else None
        if not isinstance(msgs, list):
            raise InputError(path, line, "messages", "expected a list of {role, content} messages")
        replies = [m.get("content", "") for m in msgs if m.get("role") in COUNSELLOR_ROLES]
        for a, b in zip(replies[0::2], replies[1::2]):
            pairs.append((b, a))
            if len(pairs) >= n:
                return pairs
    return pairs
