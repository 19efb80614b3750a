"""``soulchat score``: a predictions file in, the metric set's scores out; bad input exits 2 in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from soulchat.io import write_jsonl


def _score(*args):
    return subprocess.run([sys.executable, "-m", "soulchat", "score", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_score_prints_the_metric_set(tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_jsonl(preds, [{"prediction": "我能理解你的感受。", "reference": "我理解你现在的感受。"},
                        {"prediction": "你可以试试和朋友聊聊。", "reference": "不妨和朋友聊聊。"}])
    res = _score(preds, "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert set(result) == {"bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l"}
    assert 0 < result["bleu-1"] <= 100


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_an_empty_predictions_file_fails_naming_the_file(tmp_path, content):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content, encoding="utf-8")
    res = _score(empty)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(empty) in lines[0] and "no predictions" in lines[0], res.stderr
