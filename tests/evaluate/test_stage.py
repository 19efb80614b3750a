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
    from soulchat.config import compose


    def _compose(*overrides):
        return compose([f"paths.outputs={tmp_path / 'outputs'}", *overrides])

    return _compose


def _run(cfg, tmp_path, tracker=None, preds=PREDS):
    from soulchat.evaluate.stage import run

    gen = tmp_path / "generate"
    write_jsonl(gen / "predictions.jsonl", preds)
    out = tmp_path / "evaluate.partial"
    out.mkdir(exist_ok=True)
    ctx = StageContext("evaluate", cfg, out, {"generate": gen}, "k", tmp_path / "run", tracker)
    return run(ctx), out


def _record(cfg, path, samples, mark=""):
    """Answers of the judge ``cfg.judge`` (cehs) for ``samples`` recorded in ``path`` under the live key."""
    from soulchat.llm.store import ResponseStore, Stored
    from soulchat.registry import build

    judge = build("judge", cfg.judge)
    store = ResponseStore(path)
    for i, sample in enumerate(samples):
        req = judge.request(sample)
        text = json.dumps({"content": 2, "empathy": i % 3, "helpfulness": 1, "safety": 1, "reason": f"{mark} x".strip()})
        store.put(Stored(judge.client.key_for(req, 1), req.id, 1, judge.client.model, text, "stop", 1, 1, {}))
    store.close()


def test_stage_reports_metrics_rates_every_reply_and_logs_artifacts(compose_cfg, tmp_path):
    """The default: automatic metrics, and the rubric judge rates every reply, named a heuristic, with n."""
    from mlflow import MlflowClient

    from soulchat.evaluate import score
    from soulchat.tracking import open_tracker

    cfg = compose_cfg("evaluate.human.raters=2")
    assert cfg.judge.name == "rubric"
    tracker = open_tracker(cfg, run_name="evaluate-test")
    metrics, out = _run(cfg, tmp_path, tracker)
    tracker.finish()
    paper = score([p["prediction"] for p in PREDS], [p["reference"] for p in PREDS], "paper")
    assert metrics["bleu-1"] == pytest.approx(paper["bleu-1"]) and metrics["rouge-l"] == pytest.approx(paper["rouge-l"])
    assert metrics["advice-list"] == pytest.approx(100 / 3) and "distinct-1" in metrics
    judge = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    assert (judge["status"], judge["rated"], judge["requested"], judge["from_network"]) == ("rated", 3, 3, 0)
    assert (metrics["judge_n_rated"], metrics["judge_n_requested"], metrics["judge_n_heuristic"]) == (3, 3, 3)
    assert (metrics["reference_judge_n_rated"], metrics["reference_judge_n_requested"]) == (3, 3)
    assert all(0 <= metrics[d] <= top for d, top in (("content", 2), ("empathy", 2), ("helpfulness", 2), ("safety", 1)))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L | Con. | Emp. | Hel. | Saf. |" in report
    assert "| Con. | Emp. | Hel. | Saf. | CEHS by | D-1 |" in report
    assert "(3/3)" in report and "| heuristic rubric |" in report and "not an LLM" in report
    lines = (out / "report.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(",judge,judge_n_rated,judge_n_requested,judge_n_heuristic")
    assert all(line.endswith(",heuristic rubric,3,3,3") for line in lines[1:])
    for f in ("report.md", "report.csv", "report.png"):
        assert (tmp_path / "run" / "evaluate" / f).exists()
    assert len(list((out / "human" / "sheets").glob("rater_*.csv"))) == 2
    artifacts = {a.path for a in MlflowClient(cfg.tracking.uri).list_artifacts(tracker.run_id, "evaluate")}
    assert {"evaluate/report.md", "evaluate/report.png", "evaluate/metrics.json"} <= artifacts


def test_mlflow_gets_each_judged_mean_with_its_n(compose_cfg, tmp_path):
    """The stage's metrics as the app logs them (``evaluate/<name>``) carry n, and a table built back
    from MLflow (``soulchat compare``) marks a partial mean and does not bold it."""
    from mlflow import MlflowClient

    from soulchat.evaluate.report import build_table
    from soulchat.tracking import open_tracker
    from soulchat.tracking.compare import table_rows

    recorded = tmp_path / "recorded.sqlite"
    _record(compose_cfg("judge=cehs", "judge.recorded=[]", f"judge.store={tmp_path / 'x.sqlite'}"), recorded, PREDS[:1])
    runs = []
    partial = ("judge=cehs", f"judge.recorded=[{recorded}]", f"judge.store={tmp_path / 'partial.sqlite'}")
    for name, overrides in (("full", ()), ("partial", partial)):
        cfg = compose_cfg(*overrides)
        metrics, _ = _run(cfg, tmp_path / name)
        tracker = open_tracker(cfg, run_name=name)
        tracker.log_metrics({f"evaluate/{k}": v for k, v in metrics.items()})  # as soulchat/app.py logs a stage's metrics
        tracker.finish()
        runs.append(MlflowClient(cfg.tracking.uri).get_run(tracker.run_id))
    logged = runs[0].data.metrics
    assert (logged["evaluate/judge_n_rated"], logged["evaluate/judge_n_requested"]) == (3, 3)
    assert logged["evaluate/judge_n_heuristic"] == 3 and logged["evaluate/reference_judge_n_rated"] == 3
    markdown = build_table(table_rows(runs)).markdown
    partial = next(line for line in markdown.splitlines() if "| partial |" in line)
    assert "| 2.00 (1/3, partial) |" in partial and "partial)**" not in partial
    assert "(3/3)" in next(line for line in markdown.splitlines() if "| full |" in line)


def test_chosen_metric_set_extra_rows_and_bad_predictions(compose_cfg, tmp_path):
    other = tmp_path / "chatgpt.jsonl"
    write_jsonl(other, [{**p, "model": "gpt-3.5-turbo", "prediction": p["reference"]} for p in PREDS])
    cfg = compose_cfg("metric_set=chatglm", "judge.enabled=false", "evaluate.extra_metric_sets=[]",
                      f"evaluate.extra_predictions=[{other}]")
    metrics, out = _run(cfg, tmp_path)
    assert set(metrics) == {"bleu-4", "rouge-1", "rouge-2", "rouge-l", "samples"}
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
    from soulchat.testing.llm_server import TestServer

    rating = json.dumps({"content": 2, "empathy": 1, "helpfulness": 2, "safety": 1, "reason": "ok"})
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with TestServer(responder=lambda body: rating) as server:
        cfg = compose_cfg("judge=cehs", f"judge.base_url={server.url}", "judge.recorded=[]", "evaluate.judge_samples=2",
                          f"judge.store={tmp_path / 'judge.sqlite'}")
        metrics, out = _run(cfg, tmp_path)
        assert server.count() == 4  # two predictions and the references of the same two contexts
    assert (metrics["content"], metrics["empathy"], metrics["helpfulness"], metrics["safety"]) == (2, 1, 2, 1)
    assert (metrics["judge_n_rated"], metrics["judge_n_requested"], metrics["judge_n_heuristic"]) == (2, 2, 0)
    assert metrics["reference_empathy"] == 1
    judge = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    assert (judge["from_store"], judge["from_network"], judge["heuristic"]) == (0, 2, 0)
    header = (out / "report.md").read_text(encoding="utf-8").splitlines()[2]
    assert "| Con. | Emp. | Hel. | Saf. | CEHS by |" in header
    assert "| LLM judge gpt-4o |" in (out / "report.md").read_text(encoding="utf-8")
    assert len((out / "judge.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_offline_judge_reads_recorded_answers_through_the_client(compose_cfg, tmp_path):
    """The offline default: answers recorded under the live key are used, nothing is sent, and the
    report says where they came from; replies without a recording are reported, never scored."""
    from soulchat.evaluate.judge import HEURISTIC_MARK

    recorded = tmp_path / "recorded.sqlite"
    cfg = compose_cfg("judge=cehs", f"judge.recorded=[{recorded}]", f"judge.store={tmp_path / 'judge.sqlite'}")
    assert cfg.judge.base_url is None  # offline unless a base_url is given
    # the first two predictions and all three references are recorded; the third prediction is not
    _record(cfg, recorded, [PREDS[0], PREDS[1]] + [{**p, "prediction": p["reference"]} for p in PREDS], HEURISTIC_MARK)

    metrics, out = _run(cfg, tmp_path)
    model = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    ref = json.loads((out / "judge_reference.json").read_text(encoding="utf-8"))
    assert (model["status"], model["rated"], model["from_store"], model["from_network"]) == ("partial", 2, 2, 0)
    assert "offline: no recorded answer" in model["reason"]
    assert (ref["status"], ref["rated"], ref["from_network"], ref["heuristic"]) == ("rated", 3, 0, 3)
    assert metrics["empathy"] == pytest.approx(0.5) and metrics["reference_empathy"] == pytest.approx(1.0)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| corpus | reference |" in report and "2 from the store, 0 from the network" in report
    assert "rubric heuristic, not an LLM" in report
    # the model's mean covers 2 of 3 replies: shown so, never bolded
    assert "| 2.00 (2/3, partial) |" in report and "**2.00 (2/3" not in report
    assert metrics["judge_n_rated"] == 2 and metrics["judge_n_requested"] == 3


def test_offline_llm_judge_without_recordings_is_skipped_with_its_n(compose_cfg, tmp_path):
    cfg = compose_cfg("judge=cehs", "judge.recorded=[]", f"judge.store={tmp_path / 'judge.sqlite'}")
    metrics, out = _run(cfg, tmp_path)
    judge = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    assert judge["status"] == "skipped" and "judge.base_url" in judge["reason"] and "content" not in metrics
    assert (metrics["judge_n_rated"], metrics["judge_n_requested"]) == (0, 3)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "CEHS by LLM judge gpt-4o, skipped: 0 of 3 replies rated" in report and "| – (0/3) |" in report
