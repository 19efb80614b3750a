"""Plain-text dialogues with speaker prefixes (the paper's ``用户：`` / ``心理咨询师：``, CPsyCounD's
``来访者：``), one or many per file, a folder read file by file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from soulchat import speakers
from soulchat.corpus.readers.base import Reader, ReaderConfig
from soulchat.corpus.readers.files import Peek, decode, files, open_bytes
from soulchat.corpus.readers.records import Item, dialogue
from soulchat.io import InputError


@dataclass
class TextReaderConfig(ReaderConfig):
    """Plain-text dialogues with speaker prefixes (``用户：`` / ``心理咨询师：``, full- or half-width colon).

    A line without a known prefix continues the previous utterance; a line of ``---`` or ``===``
    ends a dialogue (so one file can hold many); a folder is read file by file. Speaker names match
    case-insensitively; the defaults are every name in :mod:`soulchat.speakers`.
    """

    user_speakers: list[str] = field(default_factory=lambda: list(speakers.USER_NAMES))
    counsellor_speakers: list[str] = field(default_factory=lambda: list(speakers.COUNSELLOR_NAMES))


class TextReader(Reader):
    """Plain-text dialogues with speaker prefixes (see :class:`TextReaderConfig`)."""

    priority = 30
    suffixes = (".txt", ".txt.gz")

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        names = {s.lower(): speakers.USER for s in cfg.user_speakers}
        names |= {s.lower(): speakers.ASSISTANT for s in cfg.counsellor_speakers}
        self.speakers = dict(sorted(names.items(), key=lambda kv: -len(kv[0])))  # longest prefix first

    def _speaker(self, line: str) -> tuple[str, str] | None:
        for name, role in self.speakers.items():
            if line[:len(name)].lower() == name and line[len(name):len(name) + 1] in speakers.COLONS:
                return role, line[len(name) + 1:]
        return None

    def detect(self, p: Peek) -> bool:
        return p.record is None and bool(p.lines) and self._speaker(p.lines[0].strip()) is not None

    def read(self, path: str | Path) -> Iterator[Item]:
        for f in files(Path(path), self.suffixes if Path(path).is_dir() else ("",)):
            try:
                yield from self._read_file(f)
            except InputError as exc:
                yield Item(str(f), exc.line, error=exc)

    def _read_file(self, f: Path) -> Iterator[Item]:
        with open_bytes(f) as fh:
            raw_lines = fh.read().split(b"\n")
        if not any(r.strip() for r in raw_lines):
            raise InputError(f, None, None, "empty file: no dialogue")
        pairs: list[list[Any]] = []  # [role, its text lines, the line it starts on]
        start, count = 1, 0

        def flush() -> Iterator[Item]:
            nonlocal pairs, count
            if pairs:
                count += 1
                try:
                    d = dialogue([(r, "\n".join(c).strip()) for r, c, _ in pairs], path=f, line=start,
                                 rid=f"{f.name.split('.')[0]}-{count}", source=self.source,
                                 lines=[n for _, _, n in pairs])
                    yield Item.of(f, start, d, "\n".join(f"{r}：{' '.join(c)}" for r, c, _ in pairs))
                except InputError as exc:
                    yield Item(str(f), exc.line, error=exc)
            pairs = []

        for n, raw in enumerate(raw_lines, 1):
            try:
                text = decode(raw, f, n).strip()
            except InputError as exc:
                yield Item(str(f), n, error=exc)
                continue
            if text in ("---", "===") or (text and set(text) <= {"-", "="} and len(text) >= 3):
                yield from flush()
                start = n + 1
                continue
            if not text:
                continue
            sp = self._speaker(text)
            if sp is not None:
                if not pairs:
                    start = n
                pairs.append([sp[0], [sp[1]], n])
            elif pairs:
                pairs[-1][1].append(text)  # a continuation line
            else:
                yield Item(str(f), n, error=InputError(f, n, None, f"no speaker prefix (such as 用户：) in "
                                                                     f"{text[:30]!r}"))
        yield from flush()
