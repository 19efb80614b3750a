"""The corpus stage end to end on the bundled demo data and on broken input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soulchat.corpus.format import encode_input, encode_target
from soulchat.corpus.samples import SampleSet
from soulchat.corpus.split import assign_splits
from soulchat.io import InputError
from soulchat.model.tokenizer import DEMO_DIR as DEMO


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_demo_corpus_end_to_end(run_corpus, tok):
    metrics, out = run_corpus([f"corpus.source={DEMO / 'dialogues.jsonl'}", "corpus.export=[sharegpt,llama_factory]",
                               "corpus.stats.charts=true"])
    assert metrics["records"] == metrics["dialogues"] == 300 and metrics["rejected"] == 0
    dialogues = lines(out / "dialogues.jsonl")
    by_split = {s: {d["id"] for d in dialogues if d["split"] == s} for s in ("train", "val", "test")}
    assert all(by_split.values()) and sum(map(len, by_split.values())) == 300  # each dialogue in one split
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert len(stats["topics"]) == 12 and stats["dialogues"]["messages"]["min"] >= 8
    assert [f["filter"] for f in stats["filters"]] == ["format", "length", "turns", "sensitive", "privacy", "dedup"]
    assert stats["words"][0][1] > 100 and (out / "topics.png").stat().st_size > 5000
    assert "| sensitive | 300 | 0 |" in (out / "report.md").read_text(encoding="utf-8")

    # the token store holds exactly what encode_input / encode_target give for the test samples
    test = lines(out / "test.jsonl")
    ds = SampleSet(out / "samples" / "test")
    assert len(ds) == len(test) == metrics["samples_test"] and ds.mode == "sample"
    assert {t["dialogue_id"] for t in test} == by_split["test"]
    for i in (0, len(ds) // 2, len(ds) - 1):
        rec, sample = test[i], ds[i]
        assert rec["history"][-1]["role"] == "user" and rec["input"].endswith("心理咨询师：")
        inp = encode_input(tok, rec["history"], 256)
        tgt = encode_target(tok, rec["reference"], 64)
        assert sample["input_ids"].dtype == np.int32 and sample["input_ids"].tolist() == inp + tgt
        assert (sample["labels"][: len(inp)] == -100).all() and sample["labels"][len(inp):].tolist() == tgt
    assert ds.lengths.sum() == json.loads((out / "samples/test/meta.json").read_text())["tokens"]
    assert len(SampleSet(out / "samples" / "train")) == metrics["samples_train"]

    exported = lines(out / "export" / "llama_factory" / "test.jsonl")
    assert len(exported) == len(by_split["test"]) and {"instruction", "output", "history"} <= set(exported[0])


def test_charts_fall_back_without_a_cjk_font(tmp_path, monkeypatch):
    from soulchat.corpus import stats as st

    monkeypatch.setattr(st, "cjk_font", lambda: None)
    stats = {"read": {"source": "x", "format": "messages", "records": 2, "errors": 0},
             "filters": [{"filter": "format", "seen": 2, "rejected": 0, "rejected_samples": 0, "details": {}}],
             "dialogues": {"dialogues": 2}, "splits": {"train": {"dialogues": 2, "samples": 3, "tokens": 30}},
             "topics": {"家庭": 1, "其他": 1}, "words": [["感受", 3], ["理解", 2]]}
    files = st.write_report(tmp_path, stats, {"家庭": "Family", "其他": "Other"}, charts=True)
    assert [f.name for f in files] == ["report.md", "topics.png", "words.png"] and all(f.stat().st_size for f in files)
    assert "| 2 | 理解 | 2 |" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_budget_history_turns_and_dialogue_mode(run_corpus, tok):
    src = f"corpus.source={DEMO / 'dialogues_smile.jsonl'}"
    m_all, out_all = run_corpus([src, "corpus.max_input_tokens=4096"], name="all")
    m_cut, out_cut = run_corpus([src, "corpus.max_input_tokens=4096", "corpus.max_history_turns=1"], name="cut")
    assert m_cut["samples_train"] == m_all["samples_train"] and m_cut["sample_tokens"] < m_all["sample_tokens"]
    assert max(len(t["history"]) for t in lines(out_cut / "test.jsonl")) == 3
    m_small, out_small = run_corpus([src, "corpus.max_input_tokens=20"], name="small")
    ds = SampleSet(out_small / "samples" / "train")
    starts = np.asarray(ds.target_start)
    # an input over the budget is cut (its last tokens kept), not dropped
    assert starts.max() == 20 and m_small["input_cut"] > 0 and m_small["dropped_overlong"] == 0
    assert m_small["samples_train"] == m_all["samples_train"]

    m_dlg, out_dlg = run_corpus([src, "corpus.mode=dialogue", "corpus.max_input_tokens=4096"], name="dialogue")
    dd = SampleSet(out_dlg / "samples" / "train")
    assert dd.mode == "dialogue" and len(dd) == sum(1 for d in lines(out_dlg / "dialogues.jsonl") if d["split"] == "train")
    sample = dd[0]
    targets = tok.decode(sample["labels"][sample["labels"] != -100]).split("<eos>")
    dialogue = next(d for d in lines(out_dlg / "dialogues.jsonl") if d["split"] == "train")
    assert targets[:-1] == [m["content"] for m in dialogue["messages"] if m["role"] == "assistant"]
    assert m_dlg["sample_tokens"] < m_all["sample_tokens"] / 2  # far fewer tokens for the same targets
    assert (out_dlg / "test.jsonl").read_text() == (out_all / "test.jsonl").read_text()


def test_bad_input_raises_located_or_goes_to_rejects(run_corpus, tmp_path):
    good = json.loads((DEMO / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()[0])
    bad = tmp_path / "mixed.jsonl"
    bad.write_text("\n".join([
        json.dumps(good, ensure_ascii=False),
        json.dumps({**good, "id": "x", "messages": [{"role": "user", "content": "我想自杀"}, {"role": "assistant", "content": "我在"}]}, ensure_ascii=False),
        json.dumps({"id": "y", "messages": [{"role": "user", "content": ""}]}),
        '{"id": "z", "messages": [{"role": "user", "content": 3}]}',
        "{not json",
    ]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_corpus([f"corpus.source={bad}"], name="raise")
    assert err.value.line == 4 and err.value.field == "messages[0].content" and str(bad) in str(err.value)

    metrics, out = run_corpus([f"corpus.source={bad}", "corpus.on_error=skip", "corpus.val_size=0", "corpus.test_size=0"],
                              name="skip")
    assert metrics["read_errors"] == 2 and metrics["rejected"] == 1 and metrics["dialogues"] == 1
    rejects = lines(out / "rejects.jsonl")  # an all-empty dialogue is cleaned away, not unreadable
    assert [(r["stage"], r["line"]) for r in rejects] == [("filter", 2), ("clean", 3), ("clean", 3), ("read", 4),
                                                           ("read", 5)]
    assert rejects[1]["field"] == "messages[0].content" and rejects[2]["reason"] == "every utterance is empty"
    assert rejects[0]["filter"] == "sensitive" and "自杀" in rejects[0]["reason"]
    assert rejects[0]["dialogue"]["id"] == "x"  # nothing is lost

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty file"):
        run_corpus([f"corpus.source={empty}", "corpus/reader=messages"], name="empty")
    with pytest.raises(FileNotFoundError, match="corpus.source"):
        run_corpus(["corpus.source=/nonexistent/file.jsonl"], name="missing")


def test_split_is_deterministic_by_dialogue():
    ids = [f"d{i}" for i in range(2000)]
    a = assign_splits(ids, [5] * 2000, 0.1, 0.1, seed=0)
    assert a == assign_splits(ids, [5] * 2000, 0.1, 0.1, seed=0)
    assert 150 < a.count("test") < 250 and 150 < a.count("val") < 250
    # a dialogue's split does not depend on the others
    sub = assign_splits(ids[:500], [5] * 500, 0.1, 0.1, seed=0)
    assert sub == a[:500]
    assert assign_splits(ids, [5] * 2000, 0.1, 0.1, seed=1) != a
    counted = assign_splits(ids, [5] * 2000, 0.05, 100, seed=0)  # 100 test samples = 20 dialogues
    assert counted.count("test") == 20
    with pytest.raises(ValueError, match="no training data"):
        assign_splits(ids, [1] * 2000, 0.5, 0.5)
    # the unit number is sha256 of the JSON [seed, id], built directly: pinned to the documented hash
    from soulchat.corpus.split import _unit
    from soulchat.io import stable_hash

    for seed in (0, 42):
        for i in ["smile-1", '心理"咨询\\x\n', "a\u2028b", "😀", "", "\x00\x1f"]:
            assert _unit(seed, i) == int(stable_hash([seed, i], 13), 16) / 16 ** 13


def test_stage_runs_from_the_rewrite_output_through_the_pipeline(compose, tmp_path, cache_dir):
    """source=rewrite reads the rewrite stage's dialogues.jsonl (here a finished cache entry)."""
    from soulchat import pipeline

    cfg = compose([f"paths.outputs={tmp_path}", f"paths.cache={cache_dir}", "stages=[corpus]",
                   "corpus.stats.charts=false"])
    plan = pipeline.plan(cfg)
    rewrite = plan.paths["rewrite"]
    rewrite.mkdir(parents=True)
    (rewrite / "dialogues.jsonl").write_text((DEMO / "dialogues.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    (rewrite / pipeline.MARKER).write_text("{}", encoding="utf-8")
    result = pipeline.run_stage("corpus", cfg, plan, tmp_path / "run")
    assert result.metrics["dialogues"] == 300 and (result.path / "samples" / "train" / "meta.json").exists()
    assert (tmp_path / "run" / "corpus" / "report.md").exists()


def test_reader_options_and_forced_format(run_corpus, tmp_path):
    src = tmp_path / "talk.txt"
    src.write_text("\n---\n".join("访客：最近睡不好，总是醒\n老师：听起来你很累，多久了？\n访客：一个月了\n老师：我们一起看看"
                                  + "原因" * i for i in range(12)), encoding="utf-8")
    opts = "corpus.reader.user_speakers=['访客']", "corpus.reader.counsellor_speakers=['老师']"
    nodedup = "corpus.filters.dedup.enabled=false"  # the twelve dialogues are near duplicates
    metrics, out = run_corpus([f"corpus.source={src}", "corpus/reader=text", *opts, nodedup, "corpus.test_size=0.3"])
    assert metrics["dialogues"] == 12 and metrics["samples_train"] + metrics["samples_val"] + metrics["samples_test"] == 24
    assert lines(out / "dialogues.jsonl")[0]["messages"][1] == {"role": "assistant", "content": "听起来你很累，多久了？"}
    auto_opts = "++corpus.reader={user_speakers: ['访客'], counsellor_speakers: ['老师']}"  # given to the text reader
    metrics, _ = run_corpus([f"corpus.source={src}", auto_opts, nodedup, "corpus.test_size=0.3"], name="auto")  # detected too
    assert metrics["dialogues"] == 12
    with pytest.raises(KeyError, match="fit no reader"):
        run_corpus([f"corpus.source={src}", "++corpus.reader={user_speaker: ['访客']}"], name="typo")


FRESH_PROCESS = """
import gc, sys
from pathlib import Path
from soulchat.config import compose
from soulchat.corpus.dedup import DedupFilter
from soulchat.corpus.stage import run
from soulchat.pipeline import StageContext

tmp, source = Path(sys.argv[1]), sys.argv[2]
cfg = compose([f"paths.outputs={tmp}", f"paths.cache={sys.argv[3]}",
               f"corpus.source={source}", "corpus.stats.charts=true"])
assert "matplotlib" not in sys.modules  # the stage is the first to import it, as in a real run
gc.disable()  # no collection may hide what reference counting did not free
run(StageContext("corpus", cfg, tmp / "corpus", {}, "test", tmp / "run", None))
assert "matplotlib.pyplot" in sys.modules and (tmp / "corpus" / "topics.png").exists()
alive = [o for o in gc.get_objects() if isinstance(o, DedupFilter)]
frames = [o for o in gc.get_objects() if type(o).__name__ == "frame" and o.f_code.co_name == "_run"]
print(len(alive), len(frames))
"""


def test_stage_leaves_nothing_pinned_after_it_returns(tmp_path, cache_dir):
    """Importing matplotlib inside the stage once kept the stage's frame (and with it every dialogue
    and the filter chain) alive through pyparsing's saved exception frames, until a collection
    walked it all (soulchat.plotting); reference counting alone must free them."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path), str(DEMO / "dialogues.jsonl"),
                           str(cache_dir)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["0", "0"]
