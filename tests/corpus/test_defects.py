"""Defects of real published files: they build with default settings, or fail naming the file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from soulchat.io import InputError
from soulchat.model.tokenizer import DEMO_DIR as DEMO

GOOD = [{"role": "client", "content": "我最近很焦虑"}, {"role": "counselor", "content": "听起来你很辛苦"},
        {"role": "client", "content": "是的"}, {"role": "counselor", "content": "我们一起想办法"}]


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_an_empty_utterance_is_cleaned_not_a_read_error(run_corpus, tmp_path):
    """SMILECHAT has an empty message inside a long dialogue; CPsyCounD cases end with an empty 来访者：."""
    smile = tmp_path / "smile.jsonl"
    demo = [json.loads(x) for x in (DEMO / "dialogues_smile.jsonl").read_text(encoding="utf-8").splitlines()][:20]
    broken = {"id": "smile-3637", "messages": GOOD[:2] + [{"role": "counselor", "content": " "}] + GOOD[2:]
              + [{"role": "client", "content": "谢谢"}, {"role": "counselor", "content": ""},
                 {"role": "client", "content": "再见"}, {"role": "counselor", "content": "保重"}]}
    smile.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in demo[:10] + [broken] + demo[10:]),
                     encoding="utf-8")
    metrics, out = run_corpus([f"corpus.source={smile}"])  # on_error=raise, the default
    assert metrics["records"] == 21 and metrics["read_errors"] == 0 and metrics["dialogues"] + metrics["rejected"] == 21
    kept = next(d for d in lines(out / "dialogues.jsonl") if d["id"] == "smile-3637")
    assert [m["content"] for m in kept["messages"]][-2:] == ["谢谢\n再见", "保重"]  # the client's two messages merged
    assert len(kept["messages"]) == 6  # the first empty message sat between the counsellor's: merged too
    notes = [r for r in lines(out / "rejects.jsonl") if r["stage"] == "clean"]
    assert [(r["line"], r["field"]) for r in notes] == [(11, "messages[2].content"), (11, "messages[6].content")]
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["read"]["cleaned"] == {"empty_utterances": 2, "empty_dialogues": 0}
    assert "| empty utterances (read) |" in (out / "report.md").read_text(encoding="utf-8")

    cpsy = tmp_path / "cpsycound.txt"
    cpsy.write_text("来访者：我最近很焦虑\n\n心理咨询师：听起来你\n很辛苦\n\n来访者：是的\n\n心理咨询师：我们一起想办法\n\n"
                    "来访者：\n", encoding="utf-8")
    metrics, out = run_corpus([f"corpus.source={cpsy}", "corpus.val_size=0", "corpus.test_size=0"], name="cpsy")
    assert metrics["dialogues"] == 1 and metrics["samples_train"] == 2
    (note,) = lines(out / "rejects.jsonl")
    assert note["line"] == 10 and note["reason"] == "empty utterance dropped"  # the offending line, not line 1


def test_long_inputs_and_targets_are_cut_not_dropped(run_corpus, tmp_path, tok):
    """A PsyQA question over the input budget once gave no sample at all."""
    from soulchat.corpus.format import encode_input, encode_target
    from soulchat.corpus.samples import SampleSet

    qa = [json.loads(x) for x in (DEMO / "qa.jsonl").read_text(encoding="utf-8").splitlines()][:40]
    src = tmp_path / "psyqa.jsonl"
    src.write_text("".join(json.dumps({**r, "description": r["description"] * 6,
                                       "answers": [{"answer_text": r["answers"][0]["answer_text"] * 3}]},
                                      ensure_ascii=False) + "\n" for r in qa), encoding="utf-8")
    metrics, out = run_corpus([f"corpus.source={src}", "corpus.max_input_tokens=64", "corpus.max_target_tokens=32",
                               "corpus.test_size=0.25", "corpus.filters.dedup.enabled=false"])
    assert metrics["samples_train"] + metrics["samples_val"] + metrics["samples_test"] == metrics["dialogues"] == 40
    assert metrics["input_cut"] == metrics["target_cut"] == 40 and metrics["dropped_overlong"] == 0
    ds, test = SampleSet(out / "samples" / "test"), lines(out / "test.jsonl")
    assert len(ds) == len(test) > 0
    for rec, sample in zip(test, ds):  # exactly what generation feeds the model, and the cut reference
        inp, tgt = encode_input(tok, rec["history"], 64), encode_target(tok, rec["reference"], 32)
        assert len(inp) == 64 and len(tgt) == 32 and sample["input_ids"].tolist() == inp + tgt
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Input 64 tokens" in report and "| target cut to the budget | 40 |" in report
    budgets = json.loads((out / "stats.json").read_text(encoding="utf-8"))["budgets"]
    assert budgets["input_cut"] == 40 and budgets["max_target_tokens"] == 32


def test_a_truncated_gzip_stops_even_under_skip(run_corpus, tmp_path):
    line = json.dumps({"id": "g", "messages": GOOD}, ensure_ascii=False) + "\n"
    blob = gzip.compress("".join(line.replace('"g"', f'"g{i}"') for i in range(3000)).encode("utf-8"))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError, match="cut short or damaged") as err:
        run_corpus([f"corpus.source={cut}", "corpus.on_error=skip"])
    assert str(cut) in str(err.value) and err.value.line > 1


def test_empty_and_non_utf8_files_say_so(run_corpus, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as err:
        run_corpus([f"corpus.source={empty}"], name="empty")
    assert str(empty) in str(err.value)
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("用户：我最近很焦虑\n心理咨询师：听起来你很辛苦\n".encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8") as err:
        run_corpus([f"corpus.source={gbk}"], name="gbk")
    assert str(gbk) in str(err.value) and err.value.line == 1
    gbk_json = tmp_path / "gbk.jsonl"
    gbk_json.write_bytes((json.dumps({"id": "x", "messages": GOOD}, ensure_ascii=False) + "\n").encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8"):
        run_corpus([f"corpus.source={gbk_json}"], name="gbk_json")


KILLED = """
import os, signal, sys
from pathlib import Path
from soulchat.config import compose
from soulchat.corpus.stage import run
from soulchat.io import JsonlAppender
from soulchat.pipeline import StageContext

out, source, cache = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
write = JsonlAppender.write

def write_then_die(self, record, n=[0]):
    write(self, record)
    n[0] += 1
    if n[0] == 5:  # killed during read + clean, as by the OOM killer or a user
        os.kill(os.getpid(), signal.SIGKILL)

JsonlAppender.write = write_then_die
cfg = compose([f"paths.outputs={out.parent}", f"paths.cache={cache}",
               f"corpus.source={source}", "corpus.stats.charts=false"])
run(StageContext("corpus", cfg, out, {}, "test", out.parent / "run", None))
"""


def test_resumed_after_sigkill_writes_each_reject_once(run_corpus, tmp_path, cache_dir):
    """Issue 17: the resumed stage appended to the killed run's rejects.jsonl.tmp (rows twice)."""
    src = tmp_path / "sensitive.jsonl"
    src.write_text("".join(json.dumps({"id": f"s{i}", "messages": [
        {"role": "user", "content": f"第{i}次想到跳楼"}, {"role": "assistant", "content": "谢谢你告诉我"}]},
        ensure_ascii=False) + "\n" for i in range(30)) + (DEMO / "dialogues.jsonl").read_text(encoding="utf-8"),
        encoding="utf-8")
    out = tmp_path / "corpus"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", KILLED, str(out), str(src), str(cache_dir)], capture_output=True,
                          text=True)
    assert proc.returncode == -9 and len(lines(out / "rejects.jsonl.tmp")) == 5, proc.stderr[-2000:]
    metrics, out = run_corpus([f"corpus.source={src}"])  # the same folder, resumed
    ids = [r["id"] for r in lines(out / "rejects.jsonl")]
    assert sorted(ids) == sorted(f"s{i}" for i in range(30)) and metrics["rejected"] == 30
    assert not (out / "rejects.jsonl.tmp").exists()
