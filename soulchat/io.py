"""Shared file helpers: JSON Lines in and out, atomic writes, stable hashes.

Every stage uses these; do not write another JSONL reader.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from soulchat.errors import SoulchatError

try:  # the fast JSON Lines writer (a dependency); the standard library writes the same bytes
    import orjson
except ImportError:  # pragma: no cover - keeps a bare install working
    orjson = None


class InputError(SoulchatError, ValueError):
    """Bad input, located: the file, the line (1-based) or record, the field, and what to do."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, reason: str):
        self.path, self.line, self.field, self.reason = str(path), line, field, reason
        where = f"{path}" + (f", line {line}" if line is not None else "") + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {reason}")


def open_text(path: str | Path, mode: str = "rt"):
    """Open a text file, transparently gunzipping ``*.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for every non-blank line.

    Raises:
        InputError: a line is not valid JSON or the file is not UTF-8 (names the line).
    """
    path = Path(path)
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(path, n, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); re-encode it as UTF-8") from None


def dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def dumps_line(record: Any) -> bytes:
    """One record as compact UTF-8 JSON plus a newline: ``orjson`` when installed, the same bytes as
    :func:`dumps` for text, integers, booleans and nulls. Floats may be spelled differently (orjson
    writes ``1e-7`` where json writes ``1e-07``, and NaN as ``null``); what orjson cannot encode
    (integers past 64 bits, lone surrogates) goes through :func:`dumps`."""
    if orjson is not None:
        try:
            return orjson.dumps(record) + b"\n"
        except TypeError:
            pass
    return (dumps(record) + "\n").encode("utf-8")


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records atomically (temp file + rename); return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "wb", buffering=1 << 20) as fh:
        for rec in records:
            fh.write(dumps_line(rec))
            n += 1
    os.replace(tmp, path)
    return n


class JsonlAppender:
    """Append records one by one, flushed as they come (for resumable long jobs)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a", encoding="utf-8")

    def write(self, record: Any) -> None:
        self.fh.write(dumps(record) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically, UTF-8, indented."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def stable_hash(obj: Any, length: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys), hex, truncated."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def subset(samples: list[dict], n: int | None, seed: int) -> list[dict]:
    """A fixed random subset of ``n`` samples (by a hash of id and seed), kept in file order: the
    same ids on every run and machine (generation's sample, the judge's sample)."""
    if n is None or n >= len(samples):
        return samples
    keep = set(sorted(range(len(samples)), key=lambda i: stable_hash([seed, samples[i]["id"]]))[:n])
    return [s for i, s in enumerate(samples) if i in keep]
