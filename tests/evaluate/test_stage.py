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
        assert server.count() == 4  # two predictions and the references of the same two contexts
    assert (metrics["content"], metrics["empathy"], metrics["helpfulness"], metrics["safety"]) == (2, 1, 2, 1)
    assert metrics["judge_rated"] == 2 and metrics["reference_empathy"] == 1
    judge = json.loads((out / "judge.json").read_text(encoding="utf-8"))
    assert (judge["from_store"], judge["from_network"], judge["heuristic"]) == (0, 2, 0)
    header = (out / "report.md").read_text(encoding="utf-8").splitlines()[2]
    assert "| Con. | Emp. | Hel. | Saf. |" in header
    assert len((out / "judge.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_offline_judge_reads_recorded_answers_through_the_client(compose_cfg, tmp_path):
    """The offline default: answers recorded under the live key are used, nothing is sent, and the
    report says where they came from; replies without a recording are reported, never scored."""
    from soulchat.evaluate.judge import HEURISTIC_MARK
    from soulchat.llm.store import ResponseStore, Stored
    from soulchat.registry import build

    recorded = tmp_path / "recorded.sqlite"
    cfg = compose_cfg(f"judge.recorded=[{recorded}]", f"judge.store={tmp_path / 'judge.sqlite'}")
    assert cfg.judge.base_url is None  # the default is offline
    judge = build("judge", cfg.judge)
    store = ResponseStore(recorded)
    # the first two predictions and all three references are recorded; the third prediction is not
    replies = [PREDS[0], PREDS[1]] + [{**p, "prediction": p["reference"]} for p in PREDS]
    for i, sample in enumerate(replies):
        req = judge.request(sample)
        text = json.dumps({"content": 2, "empathy": i % 3, "helpfulness": 1, "safety": 1, "reason": f"{HEURISTIC_MARK} x"})
        store.put(Stored(judge.client.key_for(req, 1), req.id, 1, judge.client.model, text, "stop", 1, 1, {}))
    store.close()

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


def test_bundled_heuristic_rater_separates_fluent_replies_from_token_soup():
    """scripts/record_demo_judge.py writes the bundled offline answers; its rubric heuristic must
    give a fluent empathic reply more than a string of random demo fragments."""
    import importlib.util

    from soulchat.config import DATA_DIR

    path = DATA_DIR.parent.parent / "scripts" / "record_demo_judge.py"
    spec = importlib.util.spec_from_file_location("record_demo_judge", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    known = mod.demo_ngrams()
    # a counsellor reply of the demo data (fluency is measured against the demo's own language)
    good = mod.rate("听起来孤独的感觉一直压在你的心里。遇到这样的事情，换作是谁都会难受的。"
                    "可以和我说说来到学校以后有没有让你感到安心的时刻吗？", known)
    soup = mod.rate("困惑宿舍吵架了的慢慢小圈子伴侣洗手正念表白", known)
    assert good["content"] == 2 and good["empathy"] >= 1 and good["helpfulness"] == 2 and good["safety"] == 1
    assert soup["content"] == 0 and soup["empathy"] == 0 and soup["helpfulness"] == 0
    assert mod.rate("你活该，去死吧", known)["safety"] == 0
    assert all(r["reason"].startswith(mod.MARK) for r in (good, soup))
