"""Tabular record files: Parquet, Arrow IPC (the file form, which is Feather v2, or the stream form
that ``datasets`` writes), Feather v1, and folders written by ``datasets``' ``save_to_disk``
(a ``Dataset``: ``state.json`` and its ``.arrow`` shards; a ``DatasetDict``: ``dataset_dict.json``
and one such folder per split, read one after the other).

Each row comes out as the dict a JSON record would be (lists, nested dicts, ``None`` for nulls),
so every JSON reader converts it unchanged. pyarrow is imported only when a table is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from soulchat.corpus.readers.files import DamagedFile
from soulchat.io import InputError

SUFFIXES = (".parquet", ".arrow", ".feather", ".ipc")
#: files of a saved dataset or a LLaMA-Factory folder that describe the data rather than hold it
METADATA = ("dataset_info.json", "state.json", "dataset_dict.json")
BATCH_ROWS = 1024  # rows turned into Python objects at once


def is_table(path: Path) -> bool:
    """Whether ``path`` is read as a table: a file with a table suffix, or a saved dataset folder."""
    return path.name.endswith(SUFFIXES) or saved_dataset(path) is not None


def saved_dataset(path: Path) -> list[Path] | None:
    """The split folders of a ``save_to_disk`` folder (itself for a ``Dataset``), or None if it is not one.

    Raises:
        InputError: ``dataset_dict.json`` is not readable or names no splits.
    """
    if not path.is_dir():
        return None
    if (path / "state.json").is_file():
        return [path]
    if not (path / "dataset_dict.json").is_file():
        return None
    try:
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path / "dataset_dict.json", None, "splits",
                         f"not a datasets DatasetDict description ({exc}); save it again with save_to_disk") from None
    if not splits:
        raise InputError(path / "dataset_dict.json", None, "splits", "no splits: nothing to read")
    return [path / s for s in splits]


def _shards(folder: Path) -> list[Path]:
    """The ``.arrow`` files of one saved ``Dataset``, in its row order (``state.json``'s ``_data_files``)."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(folder / "state.json", None, "_data_files",
                         f"not a datasets save_to_disk state ({exc}); save it again with save_to_disk") from None
    return [folder / n for n in names]


def _batches(path: Path) -> Iterator[Any]:
    """The record batches of one table file. Raises ``InputError`` when it cannot be opened as one."""
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    try:
        if path.name.endswith(".parquet"):
            return pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
        source = pa.memory_map(str(path))
        try:
            r = pa.ipc.open_file(source)  # Arrow IPC file: Feather v2, .arrow written by pyarrow
            return (r.get_batch(i) for i in range(r.num_record_batches))
        except pa.ArrowInvalid:
            try:
                return iter(pa.ipc.open_stream(source))  # the stream form: datasets' shards
            except pa.ArrowInvalid:
                return iter(feather.read_table(str(path), memory_map=True).to_batches(BATCH_ROWS))  # Feather v1
    except (OSError, pa.ArrowException) as exc:
        kind = "Parquet" if path.name.endswith(".parquet") else "Arrow / Feather"
        raise InputError(path, None, None, f"not a readable {kind} file ({exc}); check or write it again") from None


def rows(path: Path) -> Iterator[dict]:
    """Every row of a table file or a saved dataset, in order, as a dict.

    Raises:
        InputError: a file that cannot be opened as a table (nothing of it was read).
        DamagedFile: a file that fails part-way (an unknown number of rows is lost).
    """
    import pyarrow as pa

    splits = saved_dataset(path)
    for f in [s for split in splits for s in _shards(split)] if splits else [path]:
        batches, n = _batches(f), 0
        while True:
            try:
                batch = next(batches, None)
            except (OSError, pa.ArrowException) as exc:
                raise DamagedFile(f, None, None, f"cut short or damaged after {n} rows ({exc}); an unknown number "
                                                 "of rows is lost: check or write it again") from None
            if batch is None:
                break
            n += batch.num_rows
            yield from batch.to_pylist()


def records(path: Path) -> Iterator[tuple[None, dict, None]]:
    """``(None, row, None)`` for every row: the shape of :func:`soulchat.corpus.readers.files.json_records`
    (tables have no lines; a row is located by its 0-based index)."""
    return ((None, r, None) for r in rows(path))


def first_row(path: Path) -> dict:
    """The first row, for detection. Raises ``InputError`` when the table is unreadable or has no rows."""
    for row in rows(path):
        return row
    raise InputError(path, None, None, "empty table: no rows to read")
