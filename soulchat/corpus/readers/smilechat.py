"""SMILECHAT as released: one JSON file per dialogue (a list of ``{role, content, annotation}``, or
the older list of ``求助者：`` / ``支持者：`` strings); a JSONL file holds one such list per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from soulchat import speakers
from soulchat.corpus.readers import tables
from soulchat.corpus.readers.base import Reader
from soulchat.corpus.readers.files import Peek, files, read_text
from soulchat.corpus.readers.records import Item, dialogue, split_speaker
from soulchat.io import InputError

_LABELS = tuple(speakers.SMILE_LABELS.values())


class SmilechatReader(Reader):
    """SMILECHAT as released: one JSON file per dialogue holding a list of ``{role: client|counselor,
    content, annotation}``, or its older form, a list of strings prefixed ``求助者：`` / ``支持者：``.
    A folder is read file by file (id ``smile-<file stem>``); a JSONL file holds one list per line, a
    table one ``{id, messages}`` row."""

    priority = 40

    def detect(self, p: Peek) -> bool:
        r = p.record  # a JSON array file's first element, or a JSONL line holding a whole list
        if isinstance(r, list):
            r = r[0] if r else None
        return (isinstance(r, dict) and "role" in r and "content" in r) or (
            isinstance(r, str) and r.startswith(_LABELS))

    def read(self, path: str | Path) -> Iterator[Item]:
        path = Path(path)
        if not tables.is_table(path) and (path.is_dir() or not path.name.endswith((".jsonl", ".jsonl.gz"))):
            for f in files(path, (".json",)):  # one dialogue per file
                try:
                    text = read_text(f, "no dialogue")
                    try:
                        rec = json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise InputError(f, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
                    yield Item.of(f, None, self._one(rec, f, None, f"smile-{f.stem}"), rec)
                except InputError as exc:
                    yield Item(str(f), exc.line, error=exc)
            return
        yield from super().read(path)

    def convert(self, rec, path, line, index):
        return [self._one(rec, path, line, f"{path.name.split('.')[0]}-{line}")]

    def _one(self, rec: Any, path: Path, line: int | None, rid: str) -> dict:
        if isinstance(rec, dict) and isinstance(rec.get("messages"), list):
            rid, rec = rec.get("id", rid), rec["messages"]
        if not isinstance(rec, list):
            raise InputError(path, line, None, f"expected a list of utterances, got {type(rec).__name__}")
        pairs = []
        for i, m in enumerate(rec):
            if isinstance(m, dict):
                pairs.append((m.get("role"), m.get("content")))
            elif isinstance(m, str):
                pairs.append(split_speaker(m, path, line, f"[{i}]"))
            else:
                pairs.append((None, None))
        return dialogue(pairs, path=path, line=line, rid=rid, source=self.source, where="")
