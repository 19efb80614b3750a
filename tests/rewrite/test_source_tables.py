"""rewrite.source reads PsyQA's layout from Parquet, Arrow and a datasets.save_to_disk folder through
the corpus's PsyQA reader: the same answers as from the JSON Lines, a bad row named by file, row, field."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from soulchat.model.tokenizer import DEMO_DIR as DEMO
from soulchat.rewrite.source import read_qa


def demo_rows():
    return [json.loads(x) for x in (DEMO / "qa.jsonl").read_text(encoding="utf-8").splitlines()]


def test_demo_qa_as_parquet_arrow_and_a_saved_dataset_gives_the_same_answers(tmp_path):
    expected, bad = read_qa(DEMO / "qa.jsonl")
    assert not bad and len(expected) == 300
    table = pa.Table.from_pylist(demo_rows())
    pq.write_table(table, tmp_path / "qa.parquet", row_group_size=100)
    feather.write_feather(table, tmp_path / "qa.feather")
    saved = tmp_path / "saved"  # the layout datasets' save_to_disk writes: stream shards named in state.json
    saved.mkdir()
    with pa.ipc.new_stream(saved / "data-00000-of-00001.arrow", table.schema) as w:
        w.write_table(table)
    (saved / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (saved / "dataset_info.json").write_text("{}")
    for src in (tmp_path / "qa.parquet", tmp_path / "qa.feather", saved):
        assert read_qa(src) == (expected, []), src.name
    assert read_qa(saved, limit=7)[0] == expected[:7]


def test_a_bad_row_is_returned_with_file_row_and_field(tmp_path):
    rows = demo_rows()[:4]
    rows[2]["answers"] = []
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    qas, bad = read_qa(tmp_path / "qa.parquet")
    assert {q.group for q in qas} == {rows[i]["id"] for i in (0, 1, 3)}
    assert [(b["path"], b["row"], b["line"], b["field"]) for b in bad] == [(str(tmp_path / "qa.parquet"), 2, None, "answers")]
    assert bad[0]["reason"].startswith(f"{tmp_path / 'qa.parquet'}, row 2, field 'answers': no answers")
