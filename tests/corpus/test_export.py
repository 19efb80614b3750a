"""``corpus.export``: files LLaMA-Factory loads as documented (dataset_info.json with the alpaca
``history`` mapping), a dataset card, and an export that reads back to the same dialogues."""

from __future__ import annotations

import json

import pytest

from soulchat.corpus.readers.base import build_readers, detect
from soulchat.model.tokenizer import DEMO_DIR as DEMO

# LLaMA-Factory's documented dataset_info.json schema (its data/README.md): the column roles and the
# sharegpt tags an entry may map, and the formattings
COLUMN_ROLES = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "chosen",
                "rejected", "kto_tag"}
TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def exported(run_corpus):
    metrics, out = run_corpus([f"corpus.source={DEMO / 'dialogues.jsonl'}", "corpus.export=[llama_factory,sharegpt]",
                               "corpus.licence='CC BY 4.0, from the test'"])
    return out, {s: [d for d in lines(out / "dialogues.jsonl") if d["split"] == s] for s in ("train", "val", "test")}


def check_alpaca(rec, columns, where):
    for role in ("prompt", "query", "response", "system", "history"):
        assert columns[role] in rec, (where, role)
    assert isinstance(rec[columns["prompt"]], str) and rec[columns["prompt"]].strip(), where
    assert isinstance(rec[columns["response"]], str) and rec[columns["response"]].strip(), where
    assert isinstance(rec[columns["query"]], str) and isinstance(rec[columns["system"]], str), where
    history = rec[columns["history"]]
    assert isinstance(history, list) and all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) and x for x in h) for h in history), where


def check_sharegpt(rec, columns, tags, where):
    conv = rec[columns["messages"]]
    assert conv and len(conv) % 2 == 0, where
    for i, m in enumerate(conv):  # the user at odd positions, the assistant at even ones (1-based)
        assert m[tags["role_tag"]] == (tags["user_tag"] if i % 2 == 0 else tags["assistant_tag"]), where
        assert isinstance(m[tags["content_tag"]], str) and m[tags["content_tag"]], where


def test_dataset_info_follows_llama_factorys_documented_schema(exported):
    out, by_split = exported
    for fmt in ("llama_factory", "sharegpt"):
        folder = out / "export" / fmt
        info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
        assert set(info) == {"soulchat_train", "soulchat_val", "soulchat_test"}
        for name, entry in info.items():
            split = name.removeprefix("soulchat_")
            assert entry["file_name"] == f"{split}.jsonl" and (folder / entry["file_name"]).is_file()
            assert set(entry["columns"]) <= COLUMN_ROLES and set(entry.get("tags", {})) <= TAGS
            records = lines(folder / entry["file_name"])
            assert len(records) == len(by_split[split]) > 0
            for k, rec in enumerate(records):
                if fmt == "llama_factory":
                    assert entry["formatting"] == "alpaca" and entry["columns"]["history"] == "history"
                    check_alpaca(rec, entry["columns"], (name, k))
                else:
                    assert entry["formatting"] == "sharegpt"
                    check_sharegpt(rec, entry["columns"], {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                                           "assistant_tag": "gpt", **entry["tags"]}, (name, k))
        # multi-turn dialogues keep their earlier turns (LLaMA-Factory drops them without the history mapping)
        if fmt == "llama_factory":
            assert all(len(r["history"]) >= 3 for r in lines(folder / "train.jsonl"))


def test_llama_factorys_own_parser_reads_the_dataset_info(exported):
    parser = pytest.importorskip("llamafactory.data.parser", reason="LLaMA-Factory is not installed; "
                                 "test_dataset_info_follows_llama_factorys_documented_schema checks its documented schema")
    out, _ = exported
    (attr,) = parser.get_dataset_list(["soulchat_train"], str(out / "export" / "llama_factory"))
    assert attr.formatting == "alpaca" and attr.history == "history" and attr.dataset_name == "train.jsonl"


def test_the_export_reads_back_to_the_same_dialogues(exported):
    out, by_split = exported
    readers = build_readers({"name": "auto"})
    for fmt in ("llama_factory", "sharegpt"):
        folder = out / "export" / fmt
        for split, want in by_split.items():
            got = [i.dialogue for i in readers[fmt].read(folder / f"{split}.jsonl")]
            assert [(d["id"], d["topic"], d["messages"]) for d in got] == [(d["id"], d["topic"], d["messages"]) for d in want]
        # the whole folder too: its README.md and dataset_info.json are not records
        assert detect(folder, readers) == fmt
        items = list(readers[fmt].read(folder))
        assert all(i.error is None for i in items) and len(items) == sum(map(len, by_split.values()))


def test_the_dataset_card_says_source_cleaning_counts_format_licence_and_use(exported):
    out, by_split = exported
    card = (out / "export" / "llama_factory" / "README.md").read_text(encoding="utf-8")
    for heading in ("## Source", "## Cleaning", "## Splits", "## Format", "## Licence", "## Intended use"):
        assert heading in card
    assert str(DEMO / "dialogues.jsonl") in card and "`demo`" in card
    for split, ds in by_split.items():
        replies = sum(m["role"] == "assistant" for d in ds for m in d["messages"])
        assert f"| {split} | `{split}.jsonl` | {len(ds)} | {replies} |" in card
    assert "| filter `sensitive` | 300 | 0 |" in card and "CC BY 4.0, from the test" in card
    assert "dataset_info.json" in card and "LLaMA-Factory alpaca" in card
    assert "CC BY 4.0" in (out / "export" / "sharegpt" / "README.md").read_text(encoding="utf-8")  # every format's card


def test_unstated_licence_is_said_so(run_corpus):
    _, out = run_corpus([f"corpus.source={DEMO / 'dialogues.jsonl'}", "corpus.export=[messages]"])
    card = (out / "export" / "messages" / "README.md").read_text(encoding="utf-8")
    assert "Not stated (`corpus.licence`)" in card and not (out / "export" / "messages" / "dataset_info.json").exists()
