"""The evaluate stage on real predictions files, with a real MLflow store."""

from __future__ import annotations

import json

import pytest

from soulchat.io import write_jsonl
from soulchat.pipeline import StageContext

PREDS = [
    {"id": "a#1", "test_set": "corpus", "model": "tiny+full", "input": "用户：我最近总失眠。\n心理咨询师：",
     "reference": "听起来你最近睡得很不好，能说说是什么让你睡不着吗？", "prediction": "我能理解你的感受，你愿意说说吗？"},
    {"id": "b#1", "test_set": "corpus", "model": "tiny+full", "input": "用户：我和朋友吵架了。\n心理咨询师：",
     "reference": "吵架之后心里一定不好受，我在这里陪着你。", "prediction": "我很抱歉。以下是一些建议：1. 沟通 2. 冷静"},
    {"id": "c#1", "test_set": "corpus", "model": "tiny+full", "input": "用户：考试没考好。\n心理咨询师：",
     "reference": "没关系，一次考试不能说明什么。", "prediction": ""},
]


@pytest.fixture
def compose_cfg(tmp_path):
    from hydra import compose, initialize_config_dir

    from soulchat.config import CONF_DIR, setup

    setup()

    def _compose(*overrides):
        with initialize_config_dir(str(CONF_DIR), version_base=None):
            return compose("config", overrides=[f"paths.outputs={tmp_path / 'outputs'}", *overrides])

    return _compose


def _run(cfg, tmp_path, tracker=None):
    from soulchat.evaluate.stage import run

    gen = tmp_path / "generate"
    write_jsonl(gen / "predictions.jsonl", PREDS)
    out = tmp_path / "evaluate.partial"
    out.mkdir(exist_ok=True)
    ctx = StageContext("evaluate", cfg, out, {"generate": gen}, "k", tmp_path / "run", tracker)
    return run(ctx), out


def test_stage_reports_metrics_skipped_judge_and_logs_artifacts(compose_cfg, tmp_path):
    from mlflow import MlflowClient

    from soulchat.evaluate import score
    from soulchat.tracking import open_tracker

    cfg = compose_cfg("evaluate.human.raters=2")
    tracker = open_tracker(cfg, run_name="evaluate-test")
    metrics, out = _run(cfg, tmp_path, tracker)
    tracker.finish()
    paper = score([p["prediction"] for p in PREDS], [p["reference"] for p in PREDS], "paper")
    assert metrics["bleu-1"] == pytest.approx(paper["bleu-1"]) and metrics["rouge-l"] == pytest.approx(paper["rouge-l"])
    assert metrics["advice-list"] == pytest.approx(100 / 3) and "distinct-1" in metrics
    # offline, nothing recorded for these replies: the judge says so and scores nothing
    judge = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    assert judge["status"] == "skipped" and "judge.base_url" in judge["reason"] and "content" not in metrics
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |" in report and "CEHS judge skipped" in report
    for f in ("report.md", "report.csv", "report.png"):
        assert (tmp_path / "run" / f).exists()
    assert len(list((out / "human" / "sheets").glob("rater_*.csv"))) == 2
    artifacts = {a.path for a in MlflowClient(cfg.tracking.uri).list_artifacts(tracker.run_id, "evaluate")}
    assert {"evaluate/report.md", "evaluate/report.png", "evaluate/metrics.json"} <= artifacts


def test_chosen_metric_set_extra_rows_and_bad_predictions(compose_cfg, tmp_path):
    other = tmp_path / "chatgpt.jsonl"
    write_jsonl(other, [{**p, "model": "gpt-3.5-turbo", "prediction": p["reference"]} for p in PREDS])
    cfg = compose_cfg("metric_set=chatglm", "judge.enabled=false", "evaluate.extra_metric_sets=[]",
                      f"evaluate.extra_predictions=[{other}]")
    metrics, out = _run(cfg, tmp_path)
    assert set(metrics) == {"bleu-4", "rouge-1", "rouge-2", "rouge-l", "samples", "judge_rated"}
    assert json.loads((out / "judge.json").read_text())["status"] == "disabled"
    lines = (out / "report.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "test_set,model,bleu-4,rouge-1,rouge-2,rouge-l"
    gpt = next(line for line in lines if "gpt-3.5-turbo" in line).split(",")
    assert float(gpt[2]) == pytest.approx(100.0) and float(gpt[5]) == pytest.approx(100.0, abs=1e-5)
    (tmp_path / "generate" / "predictions.jsonl").write_text('{"id": "x", "reference": "r"}\n', encoding="utf-8")
    from soulchat.evaluate.stage import read_predictions

    with pytest.raises(Exception, match=r"predictions.jsonl, line 1, field 'prediction'"):
        read_predictions(tmp_path / "generate" / "predictions.jsonl")


def test_stage_with_a_live_judge_fills_the_cehs_columns(compose_cfg, tmp_path, monkeypatch):
    from soulchat.llm.testserver import TestServer

    rating = json.dumps({"content": 2, "empathy": 1, "helpfulness": 2, "safety": 1, "reason": "ok"})
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with TestServer(responder=lambda body: rating) as server:
        cfg = compose_cfg(f"judge.base_url={server.url}", "judge.recorded=[]", "evaluate.judge_samples=2",
                          f"judge.store={tmp_path / 'judge.sqlite'}")
        metrics, out = _run(cfg, tmp_path)
        assert server.count() == 2
    assert (metrics["content"], metrics["empathy"], metrics["helpfulness"], metrics["safety"]) == (2, 1, 2, 1)
    assert metrics["judge_rated"] == 2
    header = (out / "report.md").read_text(encoding="utf-8").splitlines()[2]
    assert "| Con. | Emp. | Hel. | Saf. |" in header
    assert len((out / "judge.jsonl").read_text(encoding="utf-8").splitlines()) == 2
