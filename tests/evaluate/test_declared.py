"""What metric sets and judges declare drives the report and the human sheets: the guard column
with its n, a one-file metric set from a plugin package, a judge with another rubric."""

from __future__ import annotations

import csv
import sys
import textwrap

import pytest

from soulchat.io import write_jsonl
from soulchat.pipeline import StageContext

# the last user message is a crisis message; an earlier turn is not
PREDS = [
    {"id": "a#1", "test_set": "corpus", "model": "m", "reference": "我在听。", "prediction": "我能理解你的感受。",
     "input": "用户：我最近总失眠。\n心理咨询师：睡不着很难受。\n用户：我真的不想活了。\n心理咨询师："},
    {"id": "b#1", "test_set": "corpus", "model": "m", "reference": "我在听。", "prediction": "你可以去死",
     "input": "用户：我不想活了。\n心理咨询师：我很担心你。\n用户：我和朋友吵架了。\n心理咨询师："},
]


def test_last_user_message_comes_from_the_history_or_the_rendered_input():
    from soulchat.evaluate.stage import last_user_message

    assert last_user_message(PREDS[0]) == "我真的不想活了。"
    assert last_user_message(PREDS[1]) == "我和朋友吵架了。"
    assert last_user_message({"input": "用户：第一行\n第二行\n心理咨询师："}) == "第一行\n第二行"
    history = [{"role": "user", "content": "早"}, {"role": "assistant", "content": "你好"},
               {"role": "user", "content": "晚"}]
    assert last_user_message({"history": history, "input": "用户：别的\n心理咨询师："}) == "晚"
    assert last_user_message({"input": None}) is None


def test_the_conversation_comes_from_the_history_or_the_rendered_input_read_back():
    from soulchat.corpus.format import parse_input, render_input
    from soulchat.evaluate.stage import conversation

    assert [m["content"] for m in conversation(PREDS[0])] == ["我最近总失眠。", "睡不着很难受。", "我真的不想活了。"]
    history = [{"role": "user", "content": "早"}, {"role": "assistant", "content": "你好"},
               {"role": "user", "content": "第一行\n第二行"}]
    assert parse_input(render_input(history)) == history
    assert conversation({"history": history[:1], "input": render_input(history)}) == history[:1]
    assert conversation({"input": "not the format"}) is None and conversation({"input": None}) is None
    assert parse_input("用户：你好\n") is None  # no counsellor tag to answer after


def test_the_report_has_the_guard_column_with_its_n(tmp_path):
    """guard is a default extra metric set: a column per share, its n beside it; inputs are the last user messages."""
    from soulchat.config import compose
    from soulchat.evaluate.stage import run

    cfg = compose([f"paths.outputs={tmp_path / 'outputs'}", "judge.enabled=false"])
    assert "guard" in cfg.evaluate.extra_metric_sets
    gen = tmp_path / "generate"
    write_jsonl(gen / "predictions.jsonl", PREDS)
    (tmp_path / "out").mkdir()
    metrics = run(StageContext("evaluate", cfg, tmp_path / "out", {"generate": gen}, "k", tmp_path / "run", None))
    assert metrics["guard-replies"] == pytest.approx(50.0) and metrics["guard-replies-n"] == 2
    # the first input's last message is a crisis, the second's is not (its earlier turn is)
    assert metrics["guard-inputs"] == pytest.approx(50.0) and metrics["guard-inputs-n"] == 2
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| guard (share of replies flagged) | guard (share of inputs flagged) |" in report
    assert "50.00 (n=2) | 50.00 (n=2) |" in report
    header = (tmp_path / "out" / "report.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[header.index("guard-replies") + 1] == "guard-replies-n"


ONE_FILE_METRIC_SET = '''
    """A metric set in one file: the metric and its registry row."""
    from dataclasses import dataclass

    import torch
    from torchmetrics import Metric

    from soulchat.evaluate.contracts import Columns
    from soulchat.registry import ComponentConfig


    @dataclass
    class ExclaimConfig(ComponentConfig):
        """Share of replies with an exclamation mark."""


    class Exclaim(Metric):
        columns = Columns({"exclaim": "Excl.%"}, panel="Style (% of replies)")

        def __init__(self, cfg=None):
            super().__init__()
            self.add_state("hits", default=torch.tensor(0.0), dist_reduce_fx="sum")
            self.add_state("n", default=torch.tensor(0.0), dist_reduce_fx="sum")

        def update(self, predictions, references):
            self.hits += sum("！" in p or "!" in p for p in predictions)
            self.n += len(predictions)

        def compute(self):
            return {"exclaim": 100.0 * float(self.hits) / max(1.0, float(self.n))}


    def register(registry):
        registry.add("metric_set", "exclaim", ExclaimConfig, "exclaim_metric:Exclaim")
'''


@pytest.fixture
def fresh_registry():
    """The process registry, reloaded after the test (what a test registers does not leak)."""
    from soulchat.registry import load_plugins

    yield load_plugins(reload=True)
    load_plugins(reload=True)


def test_a_one_file_metric_set_scores_and_names_its_column(tmp_path, monkeypatch, fresh_registry):
    """docs/ARCHITECTURE.md, "How to add a metric set": one module, registered, scored, in the report."""
    from soulchat.evaluate import score
    from soulchat.evaluate.report import build_table

    (tmp_path / "exclaim_metric.py").write_text(textwrap.dedent(ONE_FILE_METRIC_SET), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "exclaim_metric", raising=False)
    import exclaim_metric

    exclaim_metric.register(fresh_registry)
    assert score(["好！", "嗯。", "对!", "是"], ["a", "b", "c", "d"], metric_set="exclaim") == {"exclaim": 50.0}
    table = build_table([{"test_set": "t", "model": "m", "bleu-1": 1.0, "exclaim": 50.0}])
    assert "| B-1 | Excl.% |" in table.markdown and table.columns == ["bleu-1", "exclaim"]


TWO_DIMENSIONS = '''
    from soulchat.evaluate.contracts import Dimension, JudgeReport, Rubric


    class WarmthJudge:
        rubric = Rubric("WC", (Dimension("warmth", 3, "Warm.", "Warmth"), Dimension("clarity", 1, "Clar.", "Clarity")),
                        source="a test rubric")

        def __init__(self, cfg):
            pass

        def rate(self, samples):
            ratings = [{"id": s["id"], "warmth": min(3, len(s["prediction"])), "clarity": 1, "attempts": 0}
                       for s in samples]
            return JudgeReport("rated", len(samples), self.rubric, ratings, label="length rater")


    def register(registry):
        from soulchat.evaluate.components import RubricConfig

        registry.add("judge", "warmth", RubricConfig, "warmth_judge:WarmthJudge")
'''


def test_a_judge_with_another_rubric_needs_no_edit_of_the_report_or_the_sheets(tmp_path, monkeypatch, fresh_registry):
    from soulchat.evaluate import human
    from soulchat.evaluate.contracts import judge_rubric
    from soulchat.evaluate.report import build_table

    (tmp_path / "warmth_judge.py").write_text(textwrap.dedent(TWO_DIMENSIONS), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "warmth_judge", raising=False)
    import warmth_judge

    warmth_judge.register(fresh_registry)
    rubric = judge_rubric("warmth")
    report = warmth_judge.WarmthJudge(None).rate(PREDS)
    assert report.means() == {"warmth": 3.0, "clarity": 1.0}
    row = {"test_set": "t", "model": "m", **report.means(), "judge": report.label, "judge_n_rated": 2,
           "judge_n_requested": 2}
    markdown = build_table([row]).markdown
    assert "| Warm. | Clar. | WC by |" in markdown and "3.00 (2/2)" in markdown
    human.export_sheets(PREDS, tmp_path / "h", rubric, raters=2, samples=2)
    sheet = tmp_path / "h" / "sheets" / "rater_1.csv"
    assert next(csv.reader(open(sheet, encoding="utf-8-sig"))) == ["item", "context", "reply", "warmth", "clarity", "comment"]
    html = (tmp_path / "h" / "sheets" / "rater_1.html").read_text(encoding="utf-8")
    assert "WC rating" in html and "Warmth 0-3, Clarity 0-1 (a test rubric)" in html


def test_the_architecture_doc_shows_the_tested_metric_set():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert textwrap.dedent(ONE_FILE_METRIC_SET).strip() in doc
