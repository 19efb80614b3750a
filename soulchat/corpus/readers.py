"""Readers: every published counselling-dialogue format -> canonical dialogue records.

A canonical record is ``{"id", "source", "topic", "messages": [{"role": "user"|"assistant",
"content"}]}`` (docs/ARCHITECTURE.md). Each reader yields :class:`Item` objects, one per record:
either the canonical dialogue, or the located :class:`~soulchat.io.InputError` that says why the
record could not be read (file, line, field), so the stage can raise it or keep it as a reject.

Formats are detected from the file's first record (:func:`detect`); ``corpus.format`` forces one.
The ``messages``, ``sharegpt`` and ``llama_factory`` readers can also write their format
(``export``), so a built corpus can be taken to other trainers.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from soulchat.io import InputError

#: raw role names (lower-cased) -> canonical role; ``None`` = dropped (system prompts)
ROLES: dict[str, str | None] = {
    "user": "user", "client": "user", "human": "user", "seeker": "user", "求助者": "user", "来访者": "user", "用户": "user",
    "assistant": "assistant", "counselor": "assistant", "counsellor": "assistant", "gpt": "assistant",
    "supporter": "assistant", "支持者": "assistant", "心理咨询师": "assistant", "咨询师": "assistant",
    "system": None,
}
COLONS = ("：", ":")


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


class DamagedFile(InputError):
    """A compressed stream that cannot be read to its end: an unknown number of records is lost,
    so the stage stops even with ``corpus.on_error=skip``."""


@dataclass
class Peek:
    """What detection looks at: the first JSON record (if the file is JSON) and the first lines."""

    path: Path
    record: Any
    lines: list[str]
    head: bytes = b""  # the first bytes of the file as stored (decompressed)


# ---------------------------------------------------------------------------------------- raw IO
try:  # ISA-L's gzip decoder: the same stream, a third of zlib's CPU time (0.18 vs 0.56 s on SMILECHAT)
    from isal import igzip as _gzip
    from isal.igzip_lib import IsalError as _IsalError
except ImportError:  # pragma: no cover - isal is a dependency; plain gzip still works
    _gzip, _IsalError = gzip, zlib.error
_GZIP_ERRORS = (OSError, EOFError, zlib.error, _IsalError)


class _GzipLines:
    """A ``.gz`` file read as bytes; a damaged or truncated stream raises :class:`InputError`
    naming the file and the line reached, instead of a decompressor's bare exception."""

    def __init__(self, path: Path):
        self.path, self.fh, self.line = path, _gzip.open(path, "rb"), 0

    def __enter__(self) -> _GzipLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fh.close()

    def _error(self, exc: Exception) -> InputError:
        return DamagedFile(self.path, self.line + 1 if self.line else None, None,
                          f"not a readable gzip file ({exc or type(exc).__name__}): cut short or damaged, "
                           "so an unknown number of records is lost; check or re-compress it")

    def read(self, n: int = -1) -> bytes:
        try:
            return self.fh.read(n)
        except _GZIP_ERRORS as exc:
            raise self._error(exc) from None

    def __iter__(self) -> Iterator[bytes]:
        it = iter(self.fh)
        while True:
            try:
                raw = next(it)
            except StopIteration:
                return
            except _GZIP_ERRORS as exc:
                raise self._error(exc) from None
            self.line += 1
            yield raw


def _open_bytes(path: Path):
    return _GzipLines(path) if path.suffix == ".gz" else open(path, "rb")


def _decode(raw: bytes, path: Path, line: int | None) -> str:
    try:
        return raw.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                           "re-encode the file as UTF-8") from None


def json_records(path: Path) -> Iterator[tuple[int | None, Any, InputError | None]]:
    """``(line, record, error)`` for a JSON Lines file, or ``(None, element, error)`` for a JSON array.

    Raises:
        InputError: the file is empty, or a JSON array file is not valid JSON / not UTF-8.
    """
    with _open_bytes(path) as fh:
        head = fh.read(64).lstrip()
    if not head:
        raise InputError(path, None, None, "empty file: no records to read")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head.startswith(b"["):  # one JSON document holding a list
        with _open_bytes(path) as fh:
            text = _decode(fh.read(), path, None)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        for rec in data:
            yield None, rec, None
        return
    with _open_bytes(path) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield n, json.loads(_decode(raw, path, n)), None
            except InputError as exc:
                yield n, raw, exc
            except json.JSONDecodeError as exc:
                yield n, raw, InputError(path, n, None, f"not valid JSON ({exc.msg} at column {exc.colno})")


def peek(path: str | Path) -> Peek:
    """Read just enough of ``path`` (a file, or the first file of a folder) to detect its format."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputError(path, None, None, "empty folder: no dialogue files in it")
        path = files[0]
    with _open_bytes(path) as fh:
        head = fh.read(1 << 16)
    text = head.decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()][:20]
    record = None
    try:
        if lines:
            _, first, err = next(iter(json_records(path)))
            record = first if err is None else None
    except (InputError, StopIteration):
        pass
    return Peek(path, record, lines, head)


def _files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    if not path.exists():
        raise InputError(path, None, None, "file not found; check corpus.source")
    return [path]


# ------------------------------------------------------------------------------------ canonical
def dialogue(pairs: list[tuple[Any, Any]], *, path: Path, line: int | None, rid: Any, source: str,
             topic: Any = None, where: str = "messages", lines: list[int] | None = None,
             drop_empty: bool = True) -> dict:
    """Build a canonical record from ``(raw role, content)`` pairs, validating every field.

    An empty utterance (blank or null content) is a cleaning matter, not a read error: it is
    dropped (the messages around it merged when they are of one speaker) and listed in the
    record's ``dropped`` (moved to :attr:`Item.dropped`). ``lines`` gives each pair's own line
    (plain text), so a note or an error names the offending line, not the dialogue's first.

    Raises:
        InputError: no messages, an unknown role, non-text content, or (``drop_empty=False``)
            empty content; names the field.
    """
    messages: list[dict] = []
    dropped: list[dict] = []
    glue = False  # an utterance was just dropped: a same-speaker neighbour joins the previous message
    for i, (role, content) in enumerate(pairs):
        at = lines[i] if lines is not None else line
        canon = ROLES.get(role, "?") if isinstance(role, str) else "?"
        if canon == "?" and isinstance(role, str):
            canon = ROLES.get(role.strip().lower(), "?")
        if canon == "?":
            raise InputError(path, at, f"{where}[{i}].role", f"unknown role {role!r}; expected one of "
                             "user/assistant (or client/counselor, human/gpt, 求助者/支持者)")
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


def _field(rec: Any, key: str, kind: type, path: Path, line: int | None) -> Any:
    if not isinstance(rec, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(rec).__name__}")
    value = rec.get(key)
    if not isinstance(value, kind):
        raise InputError(path, line, key, f"missing or not a {kind.__name__}")
    return value


class Reader:
    """Base: JSON/JSONL files where each record converts on its own (:meth:`convert`)."""

    name = "reader"
    suffixes: tuple[str, ...] = (".jsonl", ".json", ".jsonl.gz", ".json.gz")

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.source = getattr(cfg, "source", "") or self.name

    def detect(self, p: Peek) -> bool:
        raise NotImplementedError

    def convert(self, rec: Any, path: Path, line: int | None, index: int) -> list[dict]:
        raise NotImplementedError

    def read(self, path: str | Path) -> Iterator[Item]:
        for f in _files(Path(path), self.suffixes):
            try:
                for index, (line, rec, err) in enumerate(json_records(f)):
                    if err is None:
                        try:
                            for d in self.convert(rec, f, line, index):
                                yield Item.of(f, line, d, rec)
                            continue
                        except InputError as exc:
                            err = exc
                    yield Item(str(f), line, error=err, raw=rec if not isinstance(rec, bytes) else None)
            except InputError as exc:  # the whole file (empty, not JSON, not UTF-8)
                yield Item(str(f), exc.line, error=exc)

    def _id(self, rec: dict, path: Path, line: int | None, index: int) -> str:
        return str(rec.get("id") or f"{path.stem}-{line if line is not None else index}")


class MessagesReader(Reader):
    """OpenAI-style ``{"messages": [{role, content}]}``: canonical records, SoulChatCorpus, SMILECHAT jsonl."""

    name = "messages"

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and isinstance(p.record.get("messages"), list)

    def convert(self, rec, path, line, index):
        msgs = _field(rec, "messages", list, path, line)
        pairs = [(m.get("role"), m.get("content")) if type(m) is dict else (None, None) for m in msgs]
        d = dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index),
                     source=rec.get("source") or self.source, topic=rec.get("topic"))
        if isinstance(rec.get("group"), (str, int)):  # the source group the split keeps together
            d["group"] = str(rec["group"])
        return [d]

    def export(self, d: dict) -> dict:
        out = {"id": d["id"], "source": d.get("source"), "topic": d.get("topic"), "messages": d["messages"]}
        if d.get("group") is not None:
            out["group"] = d["group"]
        return out


class ShareGPTReader(Reader):
    """ShareGPT ``{"conversations": [{"from": "human"|"gpt", "value"}]}``."""

    name = "sharegpt"

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and isinstance(p.record.get("conversations"), list)

    def convert(self, rec, path, line, index):
        conv = _field(rec, "conversations", list, path, line)
        pairs = [(m.get("from"), m.get("value")) if isinstance(m, dict) else (None, None) for m in conv]
        return [dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index), source=self.source,
                         topic=rec.get("topic"), where="conversations")]

    def export(self, d: dict) -> dict:
        role = {"user": "human", "assistant": "gpt"}
        return {"id": d["id"], "topic": d.get("topic"),
                "conversations": [{"from": role[m["role"]], "value": m["content"]} for m in d["messages"]]}


class LlamaFactoryReader(Reader):
    """LLaMA-Factory (alpaca) ``{"instruction", "input", "output", "history": [[user, reply], ...]}``."""

    name = "llama_factory"

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and "instruction" in p.record and "output" in p.record

    def convert(self, rec, path, line, index):
        instruction = _field(rec, "instruction", str, path, line)
        history = rec.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, list) and len(h) == 2 for h in history):
            raise InputError(path, line, "history", "must be a list of [user, reply] pairs")
        pairs = [p for u, a in history for p in (("user", u), ("assistant", a))]
        query = instruction + (("\n" + rec["input"]) if rec.get("input") else "")
        pairs += [("user", query), ("assistant", rec.get("output"))]
        return [dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index), source=self.source,
                         topic=rec.get("topic"), where="history+instruction+output")]

    def export(self, d: dict) -> dict:
        msgs = d["messages"]
        history = [[msgs[i]["content"], msgs[i + 1]["content"]] for i in range(0, len(msgs) - 2, 2)]
        return {"instruction": msgs[-2]["content"], "input": "", "output": msgs[-1]["content"],
                "history": history, "id": d["id"]}


class PsyQAReader(Reader):
    """Single-turn long Q&A (PsyQA): each answer becomes a one-turn dialogue ``<id>-<answer index>``
    whose ``group`` is the question's id (the split keeps a question's answers together). An empty
    question or answer is a read error here: it leaves no Q&A pair (the rewrite reads pairs)."""

    name = "psyqa"

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and "question" in p.record and isinstance(p.record.get("answers"), list)

    def convert(self, rec, path, line, index):
        question = _field(rec, "question", str, path, line).strip()
        answers = _field(rec, "answers", list, path, line)
        if not answers:
            raise InputError(path, line, "answers", "no answers")
        user = question + (rec.get("description") or "").strip()
        rid, out = self._id(rec, path, line, index), []
        for j, ans in enumerate(answers):
            text = ans.get("answer_text") if isinstance(ans, dict) else ans
            d = dialogue([("user", user), ("assistant", text)], path=path, line=line,
                         rid=rid if len(answers) == 1 else f"{rid}-{j}", source=self.source,
                         topic=rec.get("topic"), where=f"answers[{j}]", drop_empty=False)
            d["group"] = rid
            out.append(d)
        return out


class SmilechatReader(Reader):
    """SMILECHAT as released: one JSON file per dialogue holding a list of ``{role: client|counselor,
    content, annotation}``, or its older form, a list of strings prefixed ``求助者：`` / ``支持者：``.
    A folder is read file by file (id ``smile-<file stem>``); a JSONL file holds one list per line."""

    name = "smilechat"

    def detect(self, p: Peek) -> bool:
        r = p.record  # a JSON array file's first element, or a JSONL line holding a whole list
        if isinstance(r, list):
            r = r[0] if r else None
        return (isinstance(r, dict) and "role" in r and "content" in r) or (
            isinstance(r, str) and r.startswith(("求助者", "支持者")))

    def read(self, path: str | Path) -> Iterator[Item]:
        path = Path(path)
        if path.is_dir() or not path.name.endswith((".jsonl", ".jsonl.gz")):
            for f in _files(path, (".json",)):  # one dialogue per file
                try:
                    with _open_bytes(f) as fh:
                        text = _decode(fh.read(), f, None)
                    if not text.strip():
                        raise InputError(f, None, None, "empty file: no dialogue")
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
        return dialogue(pairs, path=path, line=line, rid=rid, source=self.source or "smilechat", where="")


def split_speaker(text: str, path: Path, line: int | None, where: str,
                  speakers: dict[str, str] | None = None) -> tuple[str, str]:
    """``"求助者：内容"`` -> ``("求助者", "内容")`` (full- or half-width colon).

    Raises:
        InputError: no known speaker prefix.
    """
    head = text.lstrip()
    for name in (speakers or ROLES):
        if head.startswith(name) and head[len(name):len(name) + 1] in COLONS:
            return name, head[len(name) + 1:]
    raise InputError(path, line, where or None, f"no speaker prefix (such as 求助者： or 用户：) in {text[:30]!r}")


class TextReader(Reader):
    """Plain-text dialogues with speaker prefixes (see :class:`~soulchat.corpus.components.TextReaderConfig`)."""

    name = "text"
    suffixes = (".txt", ".txt.gz")

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.speakers = {s: "user" for s in cfg.user_speakers} | {s: "assistant" for s in cfg.counsellor_speakers}
        self.speakers = dict(sorted(self.speakers.items(), key=lambda kv: -len(kv[0])))  # longest prefix first

    def _speaker(self, line: str) -> tuple[str, str] | None:
        for name, role in self.speakers.items():
            if line.startswith(name) and line[len(name):len(name) + 1] in COLONS:
                return role, line[len(name) + 1:]
        return None

    def detect(self, p: Peek) -> bool:
        return p.record is None and bool(p.lines) and self._speaker(p.lines[0].strip()) is not None

    def read(self, path: str | Path) -> Iterator[Item]:
        for f in _files(Path(path), self.suffixes if Path(path).is_dir() else ("",)):
            try:
                yield from self._read_file(f)
            except InputError as exc:
                yield Item(str(f), exc.line, error=exc)

    def _read_file(self, f: Path) -> Iterator[Item]:
        with _open_bytes(f) as fh:
            raw_lines = fh.read().split(b"\n")
        if not any(r.strip() for r in raw_lines):
            raise InputError(f, None, None, "empty file: no dialogue")
        pairs: list[list[Any]] = []  # [role, its text lines, the line it starts on]
        start, count = 1, 0

        def flush(end_line: int) -> Iterator[Item]:
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
                text = _decode(raw, f, n).strip()
            except InputError as exc:
                yield Item(str(f), n, error=exc)
                continue
            if text in ("---", "===") or (text and set(text) <= {"-", "="} and len(text) >= 3):
                yield from flush(n)
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
        yield from flush(len(raw_lines))


READER_CLASSES: dict[str, Callable[[Any], Reader]] = {
    c.name: c for c in (MessagesReader, SmilechatReader, TextReader, PsyQAReader, ShareGPTReader, LlamaFactoryReader)
}


def build(cfg: Any) -> Reader:
    """The ``reader`` factory: the reader class named by ``cfg.name``."""
    return READER_CLASSES[cfg.name](cfg)


def detect(path: str | Path, readers: dict[str, Reader]) -> str:
    """Name of the first reader whose ``detect`` accepts ``path``.

    Raises:
        InputError: no reader recognises the file: it is empty, not UTF-8 (names the line), or of
            an unknown format (the message lists the names to force one with).
    """
    p = peek(path)
    for name, reader in readers.items():
        if reader.detect(p):
            return name
    if not p.head.strip():
        raise InputError(p.path, None, None, "empty file: no records to read")
    try:
        p.head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(p.head) - 4 or exc.reason != "unexpected end of data":  # not a character cut by the peek
            raise InputError(p.path, p.head[: exc.start].count(b"\n") + 1, None,
                             f"not UTF-8 text ({exc.reason} at byte {exc.start}); re-encode the file as UTF-8") from None
    raise InputError(path, None, None, "cannot tell the format from its first record; set corpus.format "
                     f"to one of {sorted(readers)}")
