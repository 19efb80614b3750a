"""The learned screen: its training data is pinned, it trains deterministically, it raises recall
on a set it was not trained on without flags on ordinary talk, and the crisis guard turns its hits
into concerns (the model answers, with the note) only where the rules saw nothing."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from soulchat.config import CONF_DIR
from soulchat.guard import Verdict, concern_note, learned
from soulchat.guard.components import CrisisGuardConfig
from soulchat.guard.crisis import CrisisGuard
from soulchat.guard.measure import FRESH, HARD_NEGATIVES, cross_validate, load, score

# a tiny real model: the slang 紫砂 (suicide) is a crisis, ordinary talk is not
TINY = (["我想紫砂", "好想紫砂了", "真的想紫砂", "今天天气很好", "我想去吃火锅", "我在学做饭", "气死我了"],
        ["suicide", "suicide", "suicide", "none", "none", "none", "none"])


def _guard(model=None, **over) -> CrisisGuard:
    return CrisisGuard(OmegaConf.structured(CrisisGuardConfig(name="crisis", **over)),
                       model=model if model is not None else learned.fit(*TINY))


def test_the_training_data_is_pinned():
    assert learned.data_sha256() == learned.DATA_SHA256, (
        "soulchat/data/guard/*.jsonl changed: set soulchat/guard/learned.py DATA_SHA256 = "
        f"{learned.data_sha256()!r} (so that the cache keys of the guard's code change with its training data)")


def test_the_training_only_sets_share_no_text_with_the_scored_sets():
    scored = {r["text"] for path in learned.REPLY_SETS if path not in learned.TRAINING_ONLY for r in load(path)}
    for path in learned.TRAINING_ONLY:
        assert not scored & {r["text"] for r in load(path)}, path


def test_training_is_deterministic_and_bad_labels_are_named():
    a, b = learned.fit(*TINY), learned.fit(*TINY)
    assert a.vocab == b.vocab and np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)
    assert a.score("我想紫砂")[0] > 0.5 > a.score("今天天气很好")[0]
    with pytest.raises(ValueError, match="sadness"):
        learned.fit(["x", "y"], ["none", "sadness"])


def test_the_learned_screen_raises_recall_on_a_set_it_was_not_trained_on():
    held_out = FRESH[1]  # paraphrase2: written after the compositional rules, never tuned on
    reports = cross_validate(held_out, [p for p in learned.SETS if p != held_out])
    crisis = {k: r.group("user", ("first_person_crisis",)) for k, r in reports.items()}
    hard = {k: r.group("user", HARD_NEGATIVES) for k, r in reports.items()}
    assert crisis["both"].n >= 50
    assert crisis["both"].rate() >= crisis["rules"].rate() + 0.2  # 0.475 -> about 0.9
    assert hard["both"].flagged <= hard["rules"].flagged + 2  # a concern or two, no more
    assert reports["both"].group("user", ("ordinary",)).flagged <= 3
    assert reports["rules"].group("user", ("ordinary",)).concern == 0


def test_a_learned_hit_the_rules_let_through_is_a_concern_with_a_note(caplog):
    guard = _guard(hotlines=["测试热线：000-1234"])
    with caplog.at_level(logging.WARNING):
        v = guard.screen_user("唉，好想紫砂")
    assert v == Verdict(False, "suicide", "concern.suicide", concern=True)
    assert "紫砂" not in caplog.text and "concern" in caplog.text  # logged without the text
    note = concern_note(guard, v)
    assert "测试热线：000-1234" in note and "{hotlines}" not in note
    assert concern_note(guard, guard.screen_user("今天天气很好")) is None


def test_the_rules_decide_first():
    guard = _guard()
    assert guard.screen_user("我想自杀").flagged  # a rule hit is the crisis answer, not a concern
    assert not guard.screen_user("我不会紫砂的，我不会自杀").concern  # rules said negated: no concern
    assert not _guard(learned=False).screen_user("好想紫砂").concern
    assert not _guard(concern_threshold=1.0).screen_user("好想紫砂").concern


def test_a_bad_threshold_or_an_empty_note_is_a_config_error():
    with pytest.raises(ValueError, match="concern_threshold"):
        _guard(concern_threshold=0.0)
    with pytest.raises(ValueError, match="guard.note"):
        _guard(note=" ")


def test_a_concern_counts_as_flagged_in_the_measure():
    rows = [{"text": "好想紫砂", "label": "suicide", "kind": "first_person_crisis", "role": "user"},
            {"text": "我在学做饭", "label": "none", "kind": "ordinary", "role": "user"}]
    report = score(_guard(), rows)
    crisis = report.group("user", ("first_person_crisis",))
    assert (crisis.flagged, crisis.concern, report.tp, report.fp) == (1, 1, 1, 0)


def test_the_bench_cross_validates_one_set():
    bench = CONF_DIR.parent / "benchmarks" / "guard_bench.py"
    heldout3 = learned.SETS[3]
    out = subprocess.run([sys.executable, str(bench), "--cv", str(heldout3)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("heldout3"))
    assert row.split()[1] == str(sum(r["kind"] == "first_person_crisis" for r in load(heldout3)))


def test_ordinary_counselling_talk_in_no_set_raises_almost_no_concern():
    from soulchat.config import DATA_DIR
    from soulchat.guard.measure import default_guard
    from soulchat.io import read_jsonl

    texts = sorted({rec[key] for _, rec in read_jsonl(DATA_DIR / "demo" / "qa.jsonl") for key in ("question", "description")})
    guard = default_guard("crisis")
    concerns = sum(guard.screen_user(t).concern for t in texts)
    assert len(texts) > 300 and concerns <= 3  # 0 of 339 when written (docs/guard.md)
