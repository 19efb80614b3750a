"""Real (prediction, reference)-like text pairs from a dialogue file, for benchmarks and checks.

Each counsellor reply is paired with the next counsellor reply of the same dialogue: two real
texts on one topic in one voice, which overlap the way a model's reply overlaps a reference.
Accepts the canonical roles (``assistant``) and SMILECHAT's (``counselor``).
"""

from __future__ import annotations

from pathlib import Path

from soulchat.io import InputError, read_jsonl

COUNSELLOR_ROLES = {"assistant", "counselor", "counsellor"}


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
        for a, b in zip(replies, replies[1:]):
            pairs.append((b, a))
            if len(pairs) >= n:
                return pairs
    return pairs
