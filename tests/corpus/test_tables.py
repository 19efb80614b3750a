"""Parquet, Arrow / Feather files and ``datasets.save_to_disk`` folders read like the JSON they hold:
the bundled demo data in every form gives the same dialogues, and a bad row names the file, the row
and the field."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from soulchat.corpus.readers.base import build_readers, detect
from soulchat.corpus.readers.files import DamagedFile
from soulchat.io import InputError
from soulchat.model.tokenizer import DEMO_DIR as DEMO


def demo(name):
    return [json.loads(x) for x in (DEMO / name).read_text(encoding="utf-8").splitlines()]


def save_to_disk(rows, folder, shards=2):
    """A folder as ``datasets.Dataset.save_to_disk`` writes it (the real one when installed): Arrow
    stream shards, ``state.json`` naming them in order, ``dataset_info.json``."""
    try:
        import datasets
    except ImportError:
        datasets = None
    if datasets is not None:
        datasets.Dataset.from_list(rows).save_to_disk(str(folder), num_shards=shards)
        return folder
    folder.mkdir(parents=True)
    table, step, names = pa.Table.from_pylist(rows), -(-len(rows) // shards), []
    for k in range(shards):
        names.append(f"data-{k:05d}-of-{shards:05d}.arrow")
        with pa.ipc.new_stream(folder / names[-1], table.schema) as w:
            w.write_table(table.slice(k * step, step))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names],
                                                   "_fingerprint": "0", "_split": None}), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}), encoding="utf-8")
    return folder


def write_all_forms(rows, tmp_path, stem):
    """``rows`` as Parquet, an Arrow IPC file, an Arrow stream, Feather, a saved Dataset and DatasetDict."""
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / f"{stem}.parquet", row_group_size=64)
    with pa.ipc.new_file(tmp_path / f"{stem}.arrow", table.schema) as w:
        w.write_table(table)
    with pa.ipc.new_stream(tmp_path / f"{stem}-stream.arrow", table.schema) as w:
        w.write_table(table)
    feather.write_feather(table, tmp_path / f"{stem}.feather")
    dd = tmp_path / f"{stem}-dict"
    half = len(rows) // 2
    save_to_disk(rows[:half], dd / "train")
    save_to_disk(rows[half:], dd / "test", shards=1)
    (dd / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}), encoding="utf-8")
    return [tmp_path / f"{stem}.parquet", tmp_path / f"{stem}.arrow", tmp_path / f"{stem}-stream.arrow",
            tmp_path / f"{stem}.feather", save_to_disk(rows, tmp_path / f"{stem}-saved"), dd]


def dialogues(path, fmt=None):
    readers = build_readers({"name": "auto"})
    fmt = fmt or detect(path, readers)
    items = list(readers[fmt].read(path))
    assert all(i.error is None for i in items), [str(i.error) for i in items if i.error][:3]
    return fmt, [i.dialogue for i in items]


@pytest.mark.parametrize("name, fmt", [("dialogues.jsonl", "messages"), ("qa.jsonl", "psyqa")])
def test_demo_data_in_every_table_form_reads_to_the_same_dialogues(tmp_path, name, fmt):
    assert dialogues(DEMO / name) == (fmt, expected := dialogues(DEMO / name)[1])
    for path in write_all_forms(demo(name), tmp_path, name.split(".")[0]):
        assert dialogues(path) == (fmt, expected), path.name


@pytest.mark.parametrize("fmt", ["sharegpt", "llama_factory"])
def test_exported_formats_read_back_from_parquet(tmp_path, fmt):
    readers = build_readers({"name": "auto"})
    canonical = dialogues(DEMO / "dialogues.jsonl")[1][:20]
    pq.write_table(pa.Table.from_pylist([readers[fmt].export(d) for d in canonical]), tmp_path / "x.parquet")
    got = dialogues(tmp_path / "x.parquet")
    assert got[0] == fmt and [(d["id"], d["messages"]) for d in got[1]] == [(d["id"], d["messages"]) for d in canonical]


def test_a_bad_row_names_the_file_the_row_and_the_field(tmp_path):
    rows = demo("dialogues.jsonl")[:5]
    rows[3]["messages"][2]["role"] = "doctor"
    for path in write_all_forms(rows, tmp_path, "bad")[:5]:
        items = list(build_readers({"name": "auto"})["messages"].read(path))
        (bad,) = [i for i in items if i.error is not None]
        assert bad.error.row == 3 and bad.error.field == "messages[2].role" and bad.path == str(path), path.name
        assert str(bad.error).startswith(f"{path}, row 3, field 'messages[2].role': unknown role 'doctor'")
        assert len(items) == 5
    # a JSON array's record is located by its index too (it has no lines of its own)
    (tmp_path / "bad.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (bad,) = [i for i in build_readers({"name": "auto"})["messages"].read(tmp_path / "bad.json") if i.error]
    assert str(bad.error).startswith(f"{tmp_path / 'bad.json'}, record 3, field 'messages[2].role'")


def test_unreadable_empty_and_damaged_tables_are_located(tmp_path):
    reader = build_readers({"name": "auto"})["messages"]
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not a parquet file at all")
    (item,) = list(reader.read(junk))
    assert str(item.error).startswith(f"{junk}: not a readable Parquet file")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        detect(junk, build_readers({"name": "auto"}))

    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"messages": pa.array([], pa.list_(pa.struct([("role", pa.string())])))}), empty)
    assert list(reader.read(empty)) == []
    with pytest.raises(InputError, match="empty table: no rows"):
        detect(empty, build_readers({"name": "auto"}))

    rows = demo("dialogues.jsonl")
    cut = tmp_path / "cut.arrow"  # an Arrow stream cut short: the first batches read, then it fails
    with pa.ipc.new_stream(cut, pa.Table.from_pylist(rows).schema) as w:
        w.write_table(pa.Table.from_pylist(rows), max_chunksize=50)
    cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) * 2 // 3])
    items = list(reader.read(cut))
    assert 0 < sum(i.error is None for i in items) < len(rows) and "cut short or damaged" in str(items[-1].error)
    assert isinstance(items[-1].error, DamagedFile)


def test_corpus_stage_reads_a_saved_dataset_folder(run_corpus, tmp_path):
    folder = save_to_disk(demo("dialogues.jsonl"), tmp_path / "saved")
    metrics, out = run_corpus([f"corpus.source={folder}"])
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert metrics["records"] == metrics["dialogues"] == 300 and stats["read"]["format"] == "messages"


def test_a_bad_row_with_dates_goes_to_rejects_with_its_row(run_corpus, tmp_path):
    import datetime

    rows = demo("dialogues.jsonl")
    for r in rows:
        r["created"] = datetime.datetime(2023, 5, 1, 12, 0)  # a column JSON has no type for
    rows[7]["messages"][2]["role"] = "doctor"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    metrics, out = run_corpus([f"corpus.source={tmp_path / 'bad.parquet'}", "corpus.on_error=skip"])
    (reject,) = [r for r in map(json.loads, (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines())
                 if r["stage"] == "read"]
    assert metrics["read_errors"] == 1 and metrics["dialogues"] == 299
    assert (reject["file"], reject["row"], reject["line"], reject["field"]) == (str(tmp_path / "bad.parquet"), 7, None,
                                                                                "messages[2].role")
    assert reject["record"]["id"] == rows[7]["id"] and reject["record"]["created"] == "2023-05-01 12:00:00"
