"""The split keeps a source group (a question) in one split; stats.json reports the overlap."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from soulchat.corpus.split import assign_splits
from soulchat.model.tokenizer import DEMO_DIR as DEMO

SMILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "smilechat" / "dev.jsonl.gz"


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def dlg(id, opening, group=None):
    d = {"id": id, "messages": [{"role": "user", "content": opening}, {"role": "assistant", "content": "嗯"}]}
    return d if group is None else {**d, "group": group}


def test_group_keys_join_a_question_and_equal_openings_in_any_order():
    from soulchat.corpus.split import group_keys

    ds = [dlg("q1-0", "我很焦虑，怎么办？", "q1"), dlg("q1-1", "换了说法的问题", "q1"),
          dlg("smile-3", "我 很焦虑 怎么办"), dlg("smile-4", "ＡＢＣ：失眠"), dlg("smile-5", "abc失眠！"),
          dlg("other", "完全不同的问题")]
    keys = group_keys(ds)
    assert keys[0] == keys[1] == keys[2]  # one question id, and an opening equal once normalised
    assert keys[3] == keys[4] != keys[0] and len({keys[0], keys[3], keys[5]}) == 3
    order = list(range(len(ds)))
    random.Random(0).shuffle(order)
    shuffled = group_keys([ds[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(ds))] == keys  # independent of the file order


@pytest.mark.parametrize("test_size", [0.2, 152])  # a fraction of groups, or a number of samples
def test_assign_splits_never_cuts_a_group(test_size):
    keys = [f"g{i // 3}" for i in range(900)]  # 300 groups of 3 dialogues
    splits = assign_splits(keys, [5] * 900, 0.1, test_size)
    by_group = {}
    for k, s in zip(keys, splits):
        by_group.setdefault(k, set()).add(s)
    assert all(len(v) == 1 for v in by_group.values()) and {"train", "val", "test"} <= set(splits)


def overlap_by_brute_force(out):
    """Test inputs equal to any history a training dialogue can give (every cut of every turn)."""
    test = {tuple(m["content"] for m in t["history"]) for t in lines(out / "test.jsonl")}
    seen = set()
    for d in lines(out / "dialogues.jsonl"):
        if d["split"] == "train":
            c = [m["content"] for m in d["messages"]]
            seen |= {tuple(c[s:a]) for a in range(1, len(c), 2) for s in range(0, a, 2)} & test
    return seen


def test_psyqa_answers_of_one_question_share_a_split(run_corpus, tmp_path):
    """Several dialogues per question (PsyQA's answers, SMILECHAT's rewrites): hashing the dialogue
    id put one question in train and test."""
    qa = [json.loads(x) for x in (DEMO / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    src = tmp_path / "psyqa.jsonl"
    src.write_text("".join(json.dumps({**r, "answers": [{"answer_text": a["answers"][0]["answer_text"] + f"（{j}）"}
                                                         for j, a in enumerate(qa[i: i + 3])]}, ensure_ascii=False) + "\n"
                           for i, r in enumerate(qa)), encoding="utf-8")
    metrics, out = run_corpus([f"corpus.source={src}", "corpus.test_size=0.2", "corpus.filters.dedup.enabled=false"])
    splits = {}
    for d in lines(out / "dialogues.jsonl"):
        splits.setdefault(d["id"].rsplit("-", 1)[0], set()).add(d["split"])  # <question id>-<answer>
    assert len(splits) == len(qa) and all(len(s) == 1 for s in splits.values())
    overlap = json.loads((out / "stats.json").read_text(encoding="utf-8"))["overlap"]
    assert overlap["test_openings_in_train"] == 0 and overlap["test_inputs_seen_in_train"] == 0
    assert overlap["test_dialogues"] > 0 and not overlap_by_brute_force(out)


def test_bundled_data_has_no_overlap(run_corpus):
    metrics, out = run_corpus([f"corpus.source={DEMO / 'dialogues.jsonl'}", "corpus.test_size=0.2"])
    assert not overlap_by_brute_force(out)
    overlap = json.loads((out / "stats.json").read_text(encoding="utf-8"))["overlap"]
    assert overlap["test_openings_in_train"] == overlap["test_inputs_seen_in_train"] == 0
    assert overlap["test_inputs"] == metrics["samples_test"] > 0 and not overlap_by_brute_force(out)
    assert "## Test / train overlap" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.shared
def test_smilechat_slice_has_no_overlap(run_corpus, tmp_path):
    """3,000 real dialogues, about half of them opening with a question another one opens with."""
    if not SMILE.exists():
        pytest.skip(f"needs {SMILE}")
    head = tmp_path / "smile_head.jsonl"
    with gzip.open(SMILE, "rt", encoding="utf-8") as fi, open(head, "w", encoding="utf-8") as fo:
        fo.writelines(line for _, line in zip(range(3000), fi))
    metrics, out = run_corpus([f"corpus.source={head}", "corpus.test_size=0.1"])
    assert not overlap_by_brute_force(out)  # what a cut history still shared was left out of test
    overlap = json.loads((out / "stats.json").read_text(encoding="utf-8"))["overlap"]
    assert overlap["test_dialogues"] > 200 and overlap["test_openings_in_train"] == 0
    assert overlap["test_inputs_seen_in_train"] < 0.01 * overlap["test_inputs"]


def test_a_small_corpus_still_gets_a_test_and_a_validation_group():
    """20 groups at 5%: the hash may put none below the bound; a positive fraction gets one group."""
    from soulchat.corpus.split import assign_splits

    for seed in range(20):
        ids = [f"q{seed}-{i}" for i in range(20)]
        out = assign_splits(ids, [1] * 20, 0.05, 0.05, seed)
        assert out.count("test") >= 1 and out.count("val") >= 1 and out.count("train") >= 15, (seed, out)
    assert assign_splits(["a", "a"], [1, 1], 0.05, 0.05) == ["train", "train"]  # one group: training keeps it
