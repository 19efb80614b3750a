"""The corpus families' contracts as code: what a ``reader`` and a ``filter`` component expose.

A registered component's factory is called with its config (a plain dataclass of its schema) and
must return an object satisfying the family's Protocol; ``tests/foundation/test_contracts.py``
checks every registered one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

from soulchat.corpus.readers.files import Peek
from soulchat.corpus.readers.records import Item


@runtime_checkable
class DialogueReader(Protocol):
    """A ``reader``: ``factory(cfg)`` with ``cfg`` its schema (a :class:`~soulchat.corpus.readers.base.ReaderConfig`)."""

    name: str  # the registry key it was built as
    priority: int  # detection asks readers highest first (ties by name)

    def detect(self, p: Peek) -> bool:
        """Whether the peeked file (first record, first lines) is in this format; cheap, never raises."""
        ...

    def read(self, path: str | Path) -> Iterator[Item]:
        """Every record of a file or folder: a canonical dialogue, or the located ``InputError``."""
        ...


@runtime_checkable
class ExportingReader(DialogueReader, Protocol):
    """A reader that can also write its format (``corpus.export=[<name>]``)."""

    def export(self, d: dict) -> dict:
        """The record of canonical dialogue ``d`` in this format (reading it back gives ``d``)."""
        ...

    # optional: ``export_index(files: {split: file name}) -> {file name: JSON object}``, the files a
    # trainer loads the export by, written beside it (LLaMA-Factory's ``dataset_info.json``)


@runtime_checkable
class DialogueFilter(Protocol):
    """A ``filter``: ``factory(cfg)`` with ``cfg`` its schema (a ``FilterConfig``)."""

    name: str  # the chain's key (rejects.jsonl and stats.json name it)
    counts: Counter  # at least ``seen`` and ``rejected``; other keys are reported as details

    def __call__(self, d: dict) -> dict:
        """The dialogue, maybe a changed copy; raises ``soulchat.corpus.filters.Reject`` to drop it."""
        ...
