"""Raw file I/O for readers: opening (``.gz`` included), UTF-8 decoding, the records of JSON / JSON
Lines files and of tables (Parquet, Arrow, Feather, ``datasets.save_to_disk`` folders: the sibling
:mod:`~soulchat.corpus.readers.tables`) alike, the peek detection looks at, and the located errors
of empty, not-UTF-8 or damaged files.

Nothing here knows a dialogue format; the formats are in the sibling modules.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from soulchat.io import InputError

try:  # ISA-L's gzip decoder: the same stream for a third of zlib's CPU time (docs/corpus.md, Benchmark)
    from isal import igzip as _gzip
    from isal.igzip_lib import IsalError as _IsalError
except ImportError:  # pragma: no cover - the `fast` extra; plain gzip reads the same stream
    _gzip, _IsalError = gzip, zlib.error
    logging.getLogger(__name__).info("ISA-L not installed: .gz files are read with zlib "
                                     "(pip install 'soulchat[fast]' for ~3x faster decoding)")
_GZIP_ERRORS = (OSError, EOFError, zlib.error, _IsalError)


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


class _GzipLines:
    """A ``.gz`` file read as bytes; a damaged or truncated stream raises :class:`DamagedFile`
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


def open_bytes(path: Path):
    """``path`` opened for reading bytes, decompressed when it ends in ``.gz``."""
    return _GzipLines(path) if path.suffix == ".gz" else open(path, "rb")


def decode(raw: bytes, path: Path, line: int | None) -> str:
    """UTF-8 text of ``raw`` (a BOM allowed on the first line). Raises ``InputError`` naming the line."""
    try:
        return raw.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                           "re-encode the file as UTF-8") from None


def read_text(path: Path, what: str = "no dialogue") -> str:
    """A whole file as text. Raises ``InputError`` when it is empty or not UTF-8."""
    with open_bytes(path) as fh:
        text = decode(fh.read(), path, None)
    if not text.strip():
        raise InputError(path, None, None, f"empty file: {what}")
    return text


def json_records(path: Path) -> Iterator[tuple[int | None, Any, InputError | None]]:
    """``(line, record, error)`` for a JSON Lines file, or ``(None, element, error)`` for a JSON array.

    Raises:
        InputError: the file is empty, or a JSON array file is not valid JSON / not UTF-8.
    """
    with open_bytes(path) as fh:
        head = fh.read(64).lstrip()
    if not head:
        raise InputError(path, None, None, "empty file: no records to read")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head.startswith(b"["):  # one JSON document holding a list
        with open_bytes(path) as fh:
            text = decode(fh.read(), path, None)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        for rec in data:
            yield None, rec, None
        return
    with open_bytes(path) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield n, json.loads(decode(raw, path, n)), None
            except InputError as exc:
                yield n, raw, exc
            except json.JSONDecodeError as exc:
                yield n, raw, InputError(path, n, None, f"not valid JSON ({exc.msg} at column {exc.colno})")


def records(path: Path) -> Iterator[tuple[int | None, Any, InputError | None]]:
    """``(line, record, error)`` for every record of one source of :func:`record_files`: a JSON Lines
    or JSON file (:func:`json_records`) or a table (``line`` None: a row is located by its index).

    Raises:
        InputError: the whole file cannot be read (empty, not JSON, not a table).
    """
    from soulchat.corpus.readers import tables

    return tables.records(path) if tables.is_table(path) else json_records(path)


def record_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """What :func:`records` reads under ``path``: the file itself, the splits of a saved ``datasets``
    folder, or a folder's files whose names end in one of ``suffixes`` (metadata files left out).

    Raises:
        InputError: ``path`` does not exist.
    """
    from soulchat.corpus.readers import tables

    splits = tables.saved_dataset(path)
    if splits is not None:
        return splits
    return [f for f in files(path, suffixes) if f.name not in tables.METADATA]


def peek(path: str | Path, suffixes: tuple[str, ...] = ()) -> Peek:
    """Read just enough of ``path`` to detect its format: a file, a saved ``datasets`` folder's first
    row, or a folder's first file ending in one of ``suffixes`` (any file when none does)."""
    from soulchat.corpus.readers import tables

    path = Path(path)
    if tables.is_table(path):
        return Peek(path, tables.first_row(path), [])
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and p.name not in tables.METADATA)
        if not found:
            raise InputError(path, None, None, "empty folder: no dialogue files in it")
        path = next((p for p in found if p.name.endswith(suffixes)), found[0]) if suffixes else found[0]
        if tables.is_table(path):
            return Peek(path, tables.first_row(path), [])
    with open_bytes(path) as fh:
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


def unreadable(p: Peek) -> InputError | None:
    """Why no format can be read from a peeked file: it is empty, or not UTF-8 (with the line)."""
    if p.record is not None:  # a record was read: the file is readable, its format unknown
        return None
    if not p.head.strip():
        return InputError(p.path, None, None, "empty file: no records to read")
    try:
        p.head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(p.head) - 4 or exc.reason != "unexpected end of data":  # not a character cut by the peek
            return InputError(p.path, p.head[: exc.start].count(b"\n") + 1, None,
                              f"not UTF-8 text ({exc.reason} at byte {exc.start}); re-encode the file as UTF-8")
    return None


def files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """``path`` itself, or the files under a folder whose names end in one of ``suffixes``.

    Raises:
        InputError: ``path`` does not exist.
    """
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    if not path.exists():
        raise InputError(path, None, None, "file not found; check corpus.source")
    return [path]
