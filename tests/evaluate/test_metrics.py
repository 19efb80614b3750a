"""The metric sets equal the reference libraries to 1e-6, on written and on real pairs."""

import importlib.util
from pathlib import Path

import pytest

from soulchat.evaluate import build_metric, score

_spec = importlib.util.spec_from_file_location("reference", Path(__file__).with_name("reference.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

# written to hit the corner cases: repeats, punctuation runs, latin/digits, whitespace and newlines,
# sentence cutting on 。！？, very short texts, no overlap at all
WRITTEN = [
    ("我能理解你的感受，这种情况确实让人很难受。", "我理解你现在的感受，这确实很不容易。"),
    ("你愿意和我说说发生了什么吗？我会一直在这里。", "能和我聊聊最近发生的事情吗？"),
    ("哈哈哈哈哈哈哈哈", "哈哈"),
    ("好", "好的"),
    ("嗯", "完全不同的一句话。"),
    ("I think 3.5 hours of sleep is not enough, 你需要休息。", "Sleep 8 hours, 好吗?"),
    ("第一句。\n第二句！  第三句？“引号。”后面", "第一句。第二句！第三句？"),
    ("等等........然后呢……………", "等等......然后……"),
    ("以下是一些建议：1. 运动 2. 早睡 3. 倾诉", "我很抱歉听到这些。以下是一些建议：1、运动；2、休息。"),
    ("　全角空格\t和制表符\r\n换行", "全角空格和换行"),
]


def _close(ours, ref, tol=1e-6):
    assert ours.keys() == ref.keys()
    for k in ours:
        assert ours[k] == pytest.approx(ref[k], abs=tol), k


@pytest.mark.parametrize("name", ["paper", "chatglm", "emollm", "sacrebleu_zh"])
def test_written_pairs_equal_reference(name):
    preds, refs = zip(*WRITTEN)
    _close(score(preds, refs, name), getattr(reference, name)(preds, refs))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["paper", "chatglm", "emollm", "sacrebleu_zh"])
def test_real_pairs_equal_reference(name, real_pairs):
    assert len(real_pairs) >= 1000
    preds, refs = zip(*real_pairs)
    _close(score(preds, refs, name), getattr(reference, name)(preds, refs))


def test_empty_prediction_scores_zero():
    result = score(["", "   "], ["我理解你的感受。", "好的"], "paper")
    assert result == {k: 0.0 for k in result}


def test_batches_accumulate_like_one_update():
    preds, refs = zip(*WRITTEN)
    m = build_metric("paper")
    m.update(list(preds[:3]), list(refs[:3]))
    m.update(list(preds[3:]), list(refs[3:]))
    _close(m.compute(), score(preds, refs, "paper"), tol=1e-9)


def test_unknown_metric_set_lists_valid_ones():
    with pytest.raises(KeyError, match="paper"):
        score(["a"], ["a"], "nope")


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        score(["a", "b"], ["a"])


def test_diversity_and_empathy_values():
    div = score(["哈哈哈", "哈哈"], ["", ""], "diversity")
    assert div["distinct-1"] == pytest.approx(100 * 1 / 5)
    assert div["distinct-2"] == pytest.approx(100 * 1 / 3)
    assert div["length"] == pytest.approx(2.5)
    emp = score(["听起来你很难过，能和我说说吗？", "我很抱歉。以下是一些建议：1. 运动 2. 早睡"], ["", ""], "empathy")
    assert emp["listening"] == 50.0 and emp["questioning"] == 50.0 and emp["question-rate"] == 50.0
    assert emp["advice-list"] == 50.0 and emp["trust"] == 0.0


@pytest.mark.parametrize("name", ["paper", "sacrebleu_zh", "diversity", "empathy"])
def test_states_merge_like_processes(name):
    # what a distributed sync does: each process's states reduced (sum / cat) into one
    preds, refs = zip(*WRITTEN)
    a, b = build_metric(name), build_metric(name)
    a.update(list(preds[:4]), list(refs[:4]))
    b.update(list(preds[4:]), list(refs[4:]))
    a.merge_state(b)
    _close(a.compute(), score(preds, refs, name), tol=1e-9)


def test_score_cli(tmp_path, capsys):
    import json

    from soulchat.evaluate.cli import main

    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"prediction": p, "reference": r}, ensure_ascii=False) + "\n"
                            for p, r in WRITTEN), encoding="utf-8")
    assert main([str(path), "--metric-set", "chatglm", "--json"]) == 0
    preds, refs = zip(*WRITTEN)
    _close(json.loads(capsys.readouterr().out), score(preds, refs, "chatglm"), tol=1e-9)
    assert main([str(path)]) == 0 and "rouge-l" in capsys.readouterr().out
    path.write_text('{"prediction": "a"}\n', encoding="utf-8")
    assert main([str(path)]) == 2
    assert "line 1, field 'reference'" in capsys.readouterr().err
