"""The content-addressed response store: every LLM answer, persisted the moment it arrives.

One SQLite file in WAL mode. A row is keyed by :func:`request_key` (endpoint model, the caller's
key parts such as the prompt template hash and the source record hash, the sampling parameters and
the attempt number), so the same question asked again is answered from disk and never paid twice.
Each :meth:`ResponseStore.put` is its own committed transaction: a process killed with ``kill -9``
loses at most the answers still on the wire.

A store may be opened read-only (the recorded demo store shipped inside the package); a
:class:`StoreStack` looks a key up in a writable store first, then in read-only ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from soulchat.io import stable_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,       -- request_key(...)
    item TEXT NOT NULL,         -- the caller's record id (for people and tests, not for lookup)
    attempt INTEGER NOT NULL,
    model TEXT NOT NULL,
    text TEXT,                  -- the answer's content
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    meta TEXT,                  -- JSON: key parts and sampling parameters
    created REAL NOT NULL
)
"""


def request_key(model: str, parts: dict[str, Any], params: dict[str, Any], attempt: int) -> str:
    """The store key of one request: a hash of everything that determines the answer we want."""
    return stable_hash({"model": model, "parts": parts, "params": params, "attempt": attempt}, 32)


@dataclass(frozen=True)
class Stored:
    """One stored answer."""

    key: str
    item: str
    attempt: int
    model: str
    text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    meta: dict[str, Any]


class ResponseStore:
    """A SQLite file of answers, keyed by :func:`request_key`.

    Args:
        path: the database file (created with its folder unless ``readonly``).
        readonly: open an existing file without writing (a bundled store).

    Raises:
        FileNotFoundError: ``readonly`` and the file does not exist.
    """

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"response store {self.path} does not exist")
            # immutable=1: a file inside the package may sit on a read-only filesystem
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed answer survives the process being killed
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(SCHEMA)

    def get(self, key: str) -> Stored | None:
        """The answer stored under ``key``, or None."""
        row = self.db.execute(
            "SELECT key, item, attempt, model, text, finish_reason, prompt_tokens, completion_tokens, meta"
            " FROM responses WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Stored(*row[:6], row[6] or 0, row[7] or 0, json.loads(row[8] or "{}"))

    def put(self, stored: Stored) -> None:
        """Persist one answer now (its own transaction); an answer already stored under the key is
        kept (two runs asking the same prompt at once never overwrite each other's answer).
        Raises ``PermissionError`` if read-only."""
        if self.readonly:
            raise PermissionError(f"response store {self.path} is read-only")
        self.db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?)",
            (stored.key, stored.item, stored.attempt, stored.model, stored.text, stored.finish_reason,
             stored.prompt_tokens, stored.completion_tokens,
             json.dumps(stored.meta, ensure_ascii=False, sort_keys=True), time.time()),
        )

    def keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM responses")}

    def items(self) -> Iterator[Stored]:
        """Every stored answer (for inspection, export and tests)."""
        for key in sorted(self.keys()):
            got = self.get(key)
            if got is not None:
                yield got

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def publish(self, dest: str | Path) -> Path:
        """Close this store as one self-contained, compacted file at ``dest`` (no WAL beside it),
        as the bundled recordings are shipped; replaces ``dest`` atomically."""
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("VACUUM")
        self.close()
        return self.path.replace(dest)


class StoreStack:
    """A writable store plus read-only ones consulted after it (e.g. the bundled recordings)."""

    def __init__(self, writable: ResponseStore, readonly: list[ResponseStore] | None = None):
        self.writable = writable
        self.readonly = list(readonly or [])

    def get(self, key: str) -> Stored | None:
        for store in (self.writable, *self.readonly):
            got = store.get(key)
            if got is not None:
                return got
        return None

    def put(self, stored: Stored) -> None:
        self.writable.put(stored)

    def describe(self) -> str:
        return ", ".join(str(s.path) for s in (self.writable, *self.readonly))

    def close(self) -> None:
        for store in (self.writable, *self.readonly):
            store.close()
