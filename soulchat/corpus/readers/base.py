"""What every reader shares: its settings (:class:`ReaderConfig`), the base of JSON formats
(:class:`Reader`), building the registered readers from ``corpus.reader`` and detecting a file's
format (:func:`detect`, in ``priority`` order).

The contract a reader meets is :class:`soulchat.corpus.contracts.DialogueReader`; one module per
format (``messages``, ``sharegpt``, ...) subclasses :class:`Reader` and is registered by one row
(``registry.add("reader", name, Schema, "module:Class")``, docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from soulchat.corpus.readers import tables
from soulchat.corpus.readers.files import Peek, peek, record_files, records, unreadable
from soulchat.corpus.readers.records import Item, located
from soulchat.io import InputError
from soulchat.registry import ComponentConfig

AUTO = "auto"  # corpus.reader.name: detect the format from the file


@dataclass
class ReaderConfig(ComponentConfig):
    """A dialogue file format, read into canonical records."""

    source: str = ""  # the ``source`` field given to records that have none (default: the reader's name)


class Reader:
    """Base: JSON / JSON Lines files (``.gz`` too) and tables (Parquet, Arrow, Feather, saved ``datasets``
    folders) where each record converts on its own (:meth:`convert`).

    ``priority`` orders detection: readers are asked highest first (ties by name), so a format
    whose records also pass a more general reader's :meth:`detect` must rank above it.
    """

    priority: int = 0
    suffixes: tuple[str, ...] = (".jsonl", ".json", ".jsonl.gz", ".json.gz", *tables.SUFFIXES)

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.name = cfg.name
        self.source = getattr(cfg, "source", "") or self.name

    def detect(self, p: Peek) -> bool:
        """Whether the peeked file is in this format (look at ``p.record`` or ``p.lines``)."""
        raise NotImplementedError

    def convert(self, rec: Any, path: Path, line: int | None, index: int) -> list[dict]:
        """The canonical dialogues of one record. Raises ``InputError`` naming the field."""
        raise NotImplementedError

    def read(self, path: str | Path) -> Iterator[Item]:
        """Every record of ``path`` (a file or a folder) as an :class:`Item`, errors located: by line,
        or, where there are no lines, by the 0-based index of a table's row or a JSON array's record."""
        for f in record_files(Path(path), self.suffixes):
            try:
                for index, (line, rec, err) in enumerate(records(f)):
                    if err is None:
                        try:
                            for d in self.convert(rec, f, line, index):
                                yield Item.of(f, line, d, rec)
                            continue
                        except InputError as exc:
                            err = exc if line is not None else located(exc, index, "row" if tables.is_table(f) else "record")
                    yield Item(str(f), line, error=err, raw=rec if not isinstance(rec, bytes) else None)
            except InputError as exc:  # the whole file (empty, not JSON, not UTF-8)
                yield Item(str(f), exc.line, error=exc)

    def _id(self, rec: dict, path: Path, line: int | None, index: int) -> str:
        return str(rec.get("id") or f"{path.stem}-{line if line is not None else index}")


def build_readers(reader_cfg: Any) -> dict[str, Any]:
    """Every registered reader, built with its schema's defaults; the one ``corpus.reader`` names
    gets its options (with ``name: auto``, every reader whose schema has all the options).

    Raises:
        KeyError: the name is not a reader, or ``auto`` options fit no reader's schema.
        omegaconf.errors.ConfigKeyError: an option the chosen reader's schema lacks.
    """
    from omegaconf import OmegaConf

    from soulchat.registry import registry

    comps = registry().families["reader"]
    name = reader_cfg.get("name") or AUTO
    options = {k: v for k, v in reader_cfg.items() if k != "name"}
    if name != AUTO and name not in comps:
        raise KeyError(f"corpus.reader.name={name!r} is not a reader; valid: {AUTO}, {sorted(comps)}")
    out, taken = {}, False
    for key, comp in comps.items():
        node = OmegaConf.structured(comp.schema(name=key))
        if key == name or (name == AUTO and options and all(k in node for k in options)):
            node = OmegaConf.merge(node, options)  # strict: a field the schema lacks fails here
            node.name = key
            taken = True
        out[key] = comp.load_factory()(OmegaConf.to_object(node))
    if options and not taken:
        raise KeyError(f"corpus.reader options {sorted(options)} fit no reader's schema; check the names "
                       "(docs/corpus.md) or name the reader: corpus/reader=<name>")
    return out


def detect(path: str | Path, readers: dict[str, Any]) -> str:
    """Name of the first reader, by descending ``priority`` then name, whose ``detect`` accepts ``path``.

    Raises:
        InputError: no reader recognises the file: it is empty, not UTF-8 (names the line), or of
            an unknown format (the message lists the names to choose one with).
    """
    p = peek(path, tuple(sorted({s for r in readers.values() for s in getattr(r, "suffixes", ())})))
    for name, reader in sorted(readers.items(), key=lambda kv: (-kv[1].priority, kv[0])):
        if reader.detect(p):
            return name
    raise unreadable(p) or InputError(path, None, None, "cannot tell the format from its first record; "
                                      f"choose the reader with corpus/reader=<name>, one of {sorted(readers)}")


def choose(reader_cfg: Any, path: str | Path, readers: dict[str, Any]) -> str:
    """The reader ``corpus.reader`` names, or (``auto``) the one detected for ``path``."""
    name = reader_cfg.get("name") or AUTO
    return detect(path, readers) if name == AUTO else name
