"""The crisis guard meets its goals on the project's labelled set (the set the rules were tuned
on; the held-out figures are reported in docs/guard.md), and the goals can fail."""

from __future__ import annotations

import json

import pytest

from soulchat.guard import Verdict
from soulchat.guard.measure import DEV, FRESH, HARD_NEGATIVES, HELDOUT, INDEPENDENT, load, score
from soulchat.io import InputError

RECALL_GOAL, FALSE_POSITIVE_GOAL = 0.98, 0.03


def goals(report) -> tuple[float, float]:
    return report.group("user", ("first_person_crisis",)).rate(), report.group("user", HARD_NEGATIVES).rate()


def test_the_set_is_large_enough_and_well_formed():
    rows = load(DEV)
    zh_user = [r for r in rows if r["role"] == "user" and r.get("lang") == "zh"]
    assert len(zh_user) >= 300
    assert {r["kind"] for r in rows} >= {"first_person_crisis", "idiom", "third_person", "past", "news", "ordinary"}
    assert any(r.get("lang") == "en" for r in rows)
    texts = [r["text"] for path in (DEV, *HELDOUT, *FRESH, *INDEPENDENT) for r in load(path)]
    assert len(texts) == len(set(texts)), "a text is in two sets (a held-out set must be disjoint)"


def test_goals_on_the_labelled_set(guard):
    report = score(guard, load(DEV))
    recall, false_positives = goals(report)
    assert recall >= RECALL_GOAL, [m["text"] for m in report.group("user", ("first_person_crisis",)).misses]
    assert false_positives <= FALSE_POSITIVE_GOAL, [m["text"] for m in report.group("user", HARD_NEGATIVES).misses]
    assert report.group("reply", ("reply_unsafe",)).rate() >= 0.9
    assert report.group("reply", ("reply_safe",)).rate() == 0.0


class _Always:
    def __init__(self, flag: bool):
        self.verdict = Verdict(True, "suicide", "suicide.test") if flag else Verdict(False)

    def screen_user(self, text, history=()):
        return self.verdict

    def screen_reply(self, text, history=()):
        return self.verdict


@pytest.mark.parametrize("flag", [True, False])
def test_the_goals_fail_for_a_guard_that_flags_everything_or_nothing(flag):
    recall, false_positives = goals(score(_Always(flag), load(DEV)))
    assert recall < RECALL_GOAL or false_positives > FALSE_POSITIVE_GOAL


def test_a_bad_record_is_named_by_file_line_and_field(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"text": "你好", "label": "none", "kind": "ordinary"}) + "\n"
                    + json.dumps({"text": "你好", "label": "sadness", "kind": "ordinary"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load(path)
    assert "set.jsonl" in str(err.value) and "2" in str(err.value) and "label" in str(err.value)
    path.write_text(json.dumps({"label": "none", "kind": "ordinary"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="text"):
        load(path)
