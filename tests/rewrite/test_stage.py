"""The rewrite stage end to end: offline from the bundled store, live against the local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soulchat.io import read_jsonl
from soulchat.llm import SpendLimitReached, StoreMiss


def records(path):
    return [rec for _, rec in read_jsonl(path)]


@pytest.mark.parametrize("prompt, demo", [("soulchat", "dialogues.jsonl"), ("smile", "dialogues_smile.jsonl")])
def test_default_runs_offline_from_the_bundled_store(run_rewrite, prompt, demo):
    from soulchat.config import DATA_DIR

    result, out = run_rewrite([f"prompt={prompt}"])
    assert result.metrics["store_hits"] == 300 and result.metrics["network"] == 0
    assert result.metrics["dialogues"] == 300
    got = {d["id"]: d for d in records(out / "dialogues.jsonl")}
    want = {d["id"]: d["messages"] for d in records(DATA_DIR / "demo" / demo)}
    assert {k: d["messages"] for k, d in got.items()} == want
    one = next(iter(got.values()))
    assert set(one) >= {"id", "source", "topic", "messages"} and one["meta"]["prompt"] == prompt
    assert records(out / "invalid.jsonl") == []
    stats = json.loads((out / "rewrite_stats.json").read_text(encoding="utf-8"))
    assert stats["store_hits"] == 300 and stats["network"] == 0


def test_plain_keeps_the_single_turn(run_rewrite):
    result, out = run_rewrite(["prompt=plain", "rewrite.limit=5"])
    assert [len(d["messages"]) for d in records(out / "dialogues.jsonl")] == [2] * 5


def test_offline_miss_is_a_clear_error(run_rewrite):
    with pytest.raises(StoreMiss, match="endpoint=openai endpoint.base_url=<url>"):
        run_rewrite(["endpoint.model=some-other-model", "rewrite.limit=3"])


def test_live_run_validates_reasks_and_records_everything(run_rewrite, server):
    # one request at a time, so the faults hit known items: item 0 is rejected twice (invalid),
    # item 1 once (accepted at attempt 2), item 2 fails with a non-retryable 400
    for kind in ("short", "meta", "malformed", "ok", "400"):
        server.fail_next(kind)
    result, out = run_rewrite(server.overrides() + ["rewrite.limit=12", "rewrite.concurrency=1",
                                                    "rewrite.max_attempts=2"])
    m = result.metrics
    assert (m["dialogues"], m["invalid"], m["failed"], m["network"], m["store_hits"]) == (10, 1, 1, 14, 0)
    assert m["rejects_meta_text"] == 1 and m["rejects_http_400"] == 1
    assert server.count() == 14
    results = records(out / "results.jsonl")
    assert len(results) == 12
    first = results[0]
    assert first["rendered_prompt"].startswith("请扮演一个心理咨询领域的文本改写员")
    assert first["params"] == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 2048}
    assert len(first["template_hash"]) == 16 and first["key"]
    assert [e.split(":")[0] for e in first["errors"]] == ["too_few_utterances", "meta_text"]
    assert results[1]["attempts"] == 2 and results[1]["status"] == "ok"
    invalid = records(out / "invalid.jsonl")
    assert [(r["status"], r["reason"]) for r in invalid] == [("invalid", "meta_text"), ("failed", "http_400")]
    assert invalid[0]["text"].endswith("以上是改写后的多轮对话。")
    # the key (from $OPENAI_API_KEY) is in no output
    assert not [p for p in out.iterdir() if "sk-test-secret-123" in p.read_text(encoding="utf-8")]


def test_spend_guard_stops_the_stage_and_counts_every_run_of_the_job(run_rewrite, server):
    overrides = server.overrides() + ["rewrite.limit=10", "rewrite.concurrency=2"]
    server.fail_next("500", n=2)  # retries are requests too
    with pytest.raises(SpendLimitReached, match=r"max_requests=4, which counts every run.*: 2 of 10 answers done"):
        run_rewrite(overrides + ["endpoint.max_requests=4"])
    assert server.count() == 4
    with pytest.raises(SpendLimitReached, match=r"4 requests.* over 2 runs of this job"):  # the same command
        run_rewrite(overrides + ["endpoint.max_requests=4"])
    assert server.count() == 4, "the guard's budget was reset by a new run"
    result, out = run_rewrite(overrides + ["endpoint.max_requests=12"])
    assert result.metrics["store_hits"] == 2 and result.metrics["network"] == 8
    assert server.count() == 12 and len(records(out / "dialogues.jsonl")) == 10
    assert json.loads((out / "spend.json").read_text())["requests"] <= 12


def test_transient_failures_leave_the_stage_unfinished_and_the_rerun_asks_exactly_those(run_rewrite, server, outputs):
    from soulchat.llm import Unfinished

    overrides = server.overrides(max_retries=1, timeout_s=0.2) + ["rewrite.limit=6", "rewrite.concurrency=1"]
    for kind in ("ok", "500", "500", "400", "ok", "timeout", "timeout"):  # item 1: 5xx, 2: 400, 4: timeouts
        server.fail_next(kind)
    server.hang_s = 0.5
    with pytest.raises(Unfinished, match=r"4 of 6 answers done \(3 dialogues\), 2 left \((http_500: 1, timeout: 1|"
                                         r"timeout: 1, http_500: 1)\); not cached"):
        run_rewrite(overrides)
    assert not list((outputs / "cache" / "rewrite").glob("*/_SUCCESS.json")), "an unfinished stage was cached"
    partial = next((outputs / "cache" / "rewrite").glob("*.partial"))
    left = sorted(r["id"] for r in records(partial / "results.jsonl") if r["status"] == "unfinished")
    assert len(left) == 2
    sent = server.count()
    result, out = run_rewrite(overrides)
    id_of = {r["rendered_prompt"]: r["id"] for r in records(out / "results.jsonl")}
    assert sorted(id_of[b["messages"][0]["content"]] for b in server.chat_bodies()[sent:]) == left
    assert result.metrics["dialogues"] == 5 and result.metrics["failed"] == 1
    assert [(r["status"], r["reason"]) for r in records(out / "invalid.jsonl")] == [("failed", "http_400")]


def test_endpoint_down_is_not_cached_and_the_rerun_recovers(run_rewrite, monkeypatch):
    from soulchat.llm import Unfinished
    from soulchat.testing.llm_server import TestServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with TestServer() as server:
        port = server.port
    overrides = server.overrides(max_retries=2) + ["rewrite.limit=3", "rewrite.concurrency=1"]
    with pytest.raises(Unfinished, match=r"0 of 3 answers done .*3 left"):
        run_rewrite(overrides)
    with TestServer(port=port) as server:  # the endpoint is back
        result, out = run_rewrite(overrides)
        assert server.count() == 3 and result.metrics["dialogues"] == 3


def test_a_source_with_no_readable_answer_is_an_error(run_rewrite, tmp_path):
    from soulchat.config import DATA_DIR
    from soulchat.errors import SoulchatError

    lines = (DATA_DIR / "demo" / "qa.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    source = tmp_path / "gbk.jsonl"
    source.write_bytes("\n".join(lines).encode("gbk", errors="replace"))
    with pytest.raises(SoulchatError, match=rf"rewrite.source {source}: none of its 5 records.*not UTF-8"):
        run_rewrite([f"rewrite.source={source}"])


@pytest.mark.slow
def test_store_hits_and_network_counts_go_to_mlflow(compose, outputs):
    from mlflow import MlflowClient

    from soulchat import app

    cfg = compose(["stages=[rewrite]", "rewrite.limit=20", "tracking.experiment=rewrite_test"])
    metrics = app.run(cfg)
    assert metrics["rewrite/store_hits"] == 20 and metrics["rewrite/network"] == 0
    client = MlflowClient(cfg.tracking.uri)
    run = client.search_runs([client.get_experiment_by_name("rewrite_test").experiment_id])[0]
    assert run.data.metrics["rewrite/store_hits"] == 20 and run.data.metrics["rewrite/network"] == 0
    assert run.data.metrics["rewrite/dialogues"] == 20
    assert [a.path for a in client.list_artifacts(run.info.run_id, "rewrite")] == ["rewrite/rewrite_stats.json"]


@pytest.mark.slow
def test_live_rewrite_statistics_go_to_mlflow(compose, outputs, server):
    """Requests, tokens, cost, rejects by reason and store hits of a live run, as MLflow has them."""
    from mlflow import MlflowClient

    from soulchat import app
    from soulchat.testing.llm_server import default_responder

    server.fail_next("meta")  # item 0: a dialogue followed by a remark (rejected: meta_text)
    server.fail_next("400")  # item 1: a non-retryable error (rejected: http_400, nothing stored)
    overrides = server.overrides() + ["stages=[rewrite]", "rewrite.limit=6", "rewrite.concurrency=1",
                                      "rewrite.max_attempts=1", "tracking.experiment=rewrite_live"]
    cfg = compose(overrides)
    app.run(cfg)
    bodies = server.chat_bodies()
    assert len(bodies) == 6
    answered = [b for i, b in enumerate(bodies) if i != 1]  # the 400 has no usage
    prompt_tokens = sum(len(m["content"]) for b in answered for m in b["messages"])
    completion_tokens = sum(len(default_responder(b)) for b in answered) + len("\n以上是改写后的多轮对话。")
    prices = cfg.endpoint.prices_per_1k
    cost = (prompt_tokens * prices.input + completion_tokens * prices.output) / 1000

    app.run(compose(overrides + ["force=true"]))  # again: 5 answers from the store, the 400 re-sent
    assert server.count() == 7

    client = MlflowClient(cfg.tracking.uri)
    runs = client.search_runs([client.get_experiment_by_name("rewrite_live").experiment_id],
                              order_by=["attributes.start_time ASC"])
    assert len(runs) == 2
    first, second = (r.data.metrics for r in runs)
    assert first["rewrite/network"] == 6 and first["rewrite/store_hits"] == 0
    assert first["rewrite/prompt_tokens"] == prompt_tokens
    assert first["rewrite/completion_tokens"] == completion_tokens
    assert first["rewrite/cost"] == pytest.approx(cost)
    assert first["rewrite/rejects_meta_text"] == 1 and first["rewrite/rejects_http_400"] == 1
    assert first["rewrite/dialogues"] == 4 and first["rewrite/failed"] == 1 and first["rewrite/invalid"] == 1
    assert second["rewrite/network"] == 1 and second["rewrite/store_hits"] == 5
    assert second["rewrite/rejects_meta_text"] == 1 and "rewrite/rejects_http_400" not in second
    assert second["rewrite/dialogues"] == 5
    path = client.download_artifacts(runs[0].info.run_id, "rewrite/rewrite_stats.json", str(outputs / "got"))
    stats = json.loads(Path(path).read_text(encoding="utf-8"))
    assert stats["rejects"] == {"meta_text": 1, "http_400": 1} and stats["network"] == 6


def test_answers_of_one_question_carry_its_group_into_the_dialogues(tmp_path):
    """The corpus split keeps a question's answers together by ``group``; the rewrite passes it on."""
    import json as _json

    from soulchat.rewrite.source import read_qa
    from soulchat.rewrite.stage import dialogue

    src = tmp_path / "qa.jsonl"
    src.write_text(_json.dumps({"id": "q7", "question": "我最近总是失眠", "description": "",
                                "answers": [{"answer_text": "能多说说吗？"}, {"answer_text": "失眠多久了？"}]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    qas, bad = read_qa(src)
    assert not bad and [q.id for q in qas] == ["q7-0", "q7-1"] and {q.group for q in qas} == {"q7"}
    rec = dialogue(qas[1], [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}], "rewrite-x", {})
    assert rec["group"] == "q7"
