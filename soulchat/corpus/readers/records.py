"""Record checks shared by every format: what a reader yields (:class:`Item`), the canonical record
built and validated from ``(speaker, content)`` pairs (:func:`dialogue`), and field checks.

A canonical record is ``{"id", "source", "topic", "messages": [{"role": "user"|"assistant",
"content"}]}`` (docs/ARCHITECTURE.md); speaker names map to roles through :mod:`soulchat.speakers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soulchat import speakers
from soulchat.io import InputError

_ROLE_OF = speakers.ROLE_OF
_PREFIXES = (*speakers.SPEAKER_NAMES, *speakers.DROPPED_NAMES)  # what SMILECHAT's strings may start with


@dataclass
class Item:
    """One record read: ``dialogue`` or ``error`` is set; ``raw`` is what the file held."""

    path: str
    line: int | None
    dialogue: dict | None = None
    error: InputError | None = None
    raw: Any = None
    dropped: list[dict] | None = None  # utterances cleaned away while reading ({line, field, reason})

    @classmethod
    def of(cls, path: Any, line: int | None, d: dict, raw: Any = None) -> Item:
        """The item of a dialogue built by :func:`dialogue` (its dropped utterances move here)."""
        return cls(str(path), line, dialogue=d, raw=raw, dropped=d.pop("dropped", None))


class RowError(InputError):
    """An error in a record of a file without lines, located by its 0-based index (``row``): a
    table's row (``ds[row]`` in ``datasets``) or a JSON array's element."""

    def __init__(self, err: InputError, row: int, unit: str = "row"):
        super().__init__(f"{err.path}, {unit} {row}", None, err.field, err.reason)
        self.path, self.row = err.path, row


def located(err: InputError, row: int, unit: str = "row") -> InputError:
    """``err`` located at record ``row`` of its file (one already located keeps its place)."""
    return err if err.line is not None or isinstance(err, RowError) else RowError(err, row, unit)


def dialogue(pairs: list[tuple[Any, Any]], *, path: Path, line: int | None, rid: Any, source: str,
             topic: Any = None, where: str = "messages", lines: list[int] | None = None,
             drop_empty: bool = True) -> dict:
    """Build a canonical record from ``(speaker name, content)`` pairs, validating every field.

    An empty utterance (blank or null content) is a cleaning matter, not a read error: it is
    dropped (the messages around it merged when they are of one speaker) and listed in the
    record's ``dropped`` (moved to :attr:`Item.dropped`). ``lines`` gives each pair's own line
    (plain text), so a note or an error names the offending line, not the dialogue's first.

    Raises:
        InputError: no messages, an unknown speaker, non-text content, or (``drop_empty=False``)
            empty content; names the field.
    """
    messages: list[dict] = []
    dropped: list[dict] = []
    glue = False  # an utterance was just dropped: a same-speaker neighbour joins the previous message
    for i, (role, content) in enumerate(pairs):
        at = lines[i] if lines is not None else line
        canon = _ROLE_OF.get(role, "?") if type(role) is str else "?"  # the common case without a call
        if canon == "?":
            try:
                canon = speakers.role_of(role)
            except KeyError:
                raise InputError(path, at, f"{where}[{i}].role",
                                 f"unknown role {role!r}; expected one of {speakers.known_names()}") from None
        if canon is None:
            continue
        if content is not None and not isinstance(content, str):
            raise InputError(path, at, f"{where}[{i}].content", f"content must be text, not {type(content).__name__}")
        content = (content or "").strip()
        if not content:
            if not drop_empty:
                raise InputError(path, at, f"{where}[{i}].content", "empty content")
            dropped.append({"line": at, "field": f"{where}[{i}].content", "reason": "empty utterance dropped"})
            glue = True
            continue
        if glue and messages and messages[-1]["role"] == canon:
            messages[-1] = {"role": canon, "content": messages[-1]["content"] + "\n" + content}
            dropped[-1]["reason"] = "empty utterance dropped; the messages around it merged"
        else:
            messages.append({"role": canon, "content": content})
        glue = False
    if not messages and not dropped:
        raise InputError(path, line, where, "no messages")
    rec = {"id": str(rid), "source": source, "topic": topic if isinstance(topic, str) and topic else None,
           "messages": messages}
    if dropped:
        rec["dropped"] = dropped
    return rec


def field(rec: Any, key: str, kind: type, path: Path, line: int | None) -> Any:
    """``rec[key]`` checked to be a ``kind``. Raises ``InputError`` naming the field."""
    if not isinstance(rec, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(rec).__name__}")
    value = rec.get(key)
    if not isinstance(value, kind):
        raise InputError(path, line, key, f"missing or not a {kind.__name__}")
    return value


def split_speaker(text: str, path: Path, line: int | None, where: str) -> tuple[str, str]:
    """``"求助者：内容"`` -> ``("求助者", "内容")`` for any name in :mod:`soulchat.speakers`
    (case-insensitive, full- or half-width colon).

    Raises:
        InputError: no known speaker prefix.
    """
    head = text.lstrip()
    for name in _PREFIXES:
        if head[:len(name)].lower() == name and head[len(name):len(name) + 1] in speakers.COLONS:
            return head[:len(name)], head[len(name) + 1:]
    raise InputError(path, line, where or None, f"no speaker prefix (such as 求助者： or 用户：) in {text[:30]!r}")
