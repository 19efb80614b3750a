"""The LLM client against the real local server through the real openai package."""

from __future__ import annotations

import logging
import re
import time

import pytest

from soulchat.llm import FatalEndpointError, InvalidOutput, LLMClient, Request, ResponseStore, StoreMiss, open_stores
from soulchat.llm.limits import RateLimiter, SpendGuard, retry_delay


def reqs(n, prefix="q"):
    return [Request(id=f"{prefix}{i}", messages=[{"role": "user", "content": f"你好 {prefix}{i}"}]) for i in range(n)]


def client(server, tmp_path, concurrency=4, **kw):
    return LLMClient(server.endpoint(tmp_path / "store.sqlite", **kw), concurrency=concurrency, progress=False)


def test_answers_are_stored_and_reused(server, tmp_path):
    c = client(server, tmp_path)
    first = c.run(reqs(10))
    assert [r.status for r in first] == ["ok"] * 10
    assert [r.id for r in first] == [f"q{i}" for i in range(10)]
    assert c.stats.network == 10 and c.stats.store_hits == 0 and server.count() == 10
    assert all(r.text.startswith("我能理解你的感受") for r in first)
    again = c.run(reqs(10))
    assert server.count() == 10, "a stored answer was asked again"
    assert c.stats.store_hits == 10 and c.stats.network == 0
    assert [r.text for r in again] == [r.text for r in first]
    # the sampling parameters are part of the key: another temperature is another question
    hotter = client(server, tmp_path, temperature=0.5)
    hotter.run(reqs(2))
    assert server.count() == 12 and server.chat_bodies()[-1]["temperature"] == 0.5
    assert len(ResponseStore(tmp_path / "store.sqlite")) == 12


def test_transient_faults_are_retried(server, tmp_path):
    for kind in ("429", "500", "503", "drop", "garbage", "timeout"):
        server.fail_next(kind)
    server.hang_s = 3.0
    c = client(server, tmp_path, concurrency=1, timeout_s=0.5)
    results = c.run(reqs(3))
    assert [r.status for r in results] == ["ok"] * 3
    assert c.stats.retries == 6
    assert server.count() == 9 and server.count(fault=None) == 3


def test_exhausted_retries_name_the_fault(server, tmp_path):
    # the aiohttp transport reports a dropped connection as a connect timeout; the reason must not
    server.hang_s = 3.0
    server.fail_next("drop", n=2)
    server.fail_next("timeout", n=2)
    c = client(server, tmp_path, concurrency=1, timeout_s=0.5, max_retries=1)
    assert [r.errors for r in c.run(reqs(2))] == [["connection: gave up after 2 tries"],
                                                   ["timeout: gave up after 2 tries"]]


def test_retry_after_is_honoured(server, tmp_path):
    server.retry_after = 0.6
    server.fail_next("429")
    c = client(server, tmp_path, concurrency=1, backoff_s=0.01)
    t0 = time.perf_counter()
    assert c.run(reqs(1))[0].status == "ok"
    assert time.perf_counter() - t0 >= 0.6
    assert server.count() == 2


def test_retries_are_bounded(server, tmp_path):
    server.fail_next("500", n=10)
    c = client(server, tmp_path, concurrency=1, max_retries=2)
    res = c.run(reqs(1))[0]
    assert res.status == "unfinished" and res.left and res.errors == ["http_500: gave up after 3 tries"]
    assert server.count() == 3


def test_non_retryable_errors_are_recorded_per_item(server, tmp_path):
    server.fail_next("400")
    c = client(server, tmp_path, concurrency=1)
    results = c.run(reqs(3))
    assert [r.status for r in results] == ["failed", "ok", "ok"]
    assert results[0].errors[0].startswith("http_400")
    assert server.count() == 3, "a 400 must not be retried"
    assert c.stats.reasons["http_400"] == 1


def test_content_filter_fails_the_item_and_is_not_paid_twice(server, tmp_path):
    server.fail_next("content_filter")
    c = client(server, tmp_path, concurrency=1)
    assert [r.status for r in c.run(reqs(2))] == ["failed", "ok"]
    assert [r.status for r in c.run(reqs(2))] == ["failed", "ok"]
    assert server.count() == 2


def test_bad_key_stops_the_run(server, tmp_path, caplog):
    server.fail_next("401")
    c = client(server, tmp_path, concurrency=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(FatalEndpointError, match="401"):
        c.run(reqs(5))
    assert server.count() == 1
    assert "sk-test-secret-123" not in caplog.text


def test_missing_key_names_the_variable(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(FatalEndpointError, match="OPENAI_API_KEY"):
        client(server, tmp_path)


def test_validator_reasks_with_a_new_attempt(server, tmp_path):
    def validate(text, req):
        if "以上是改写" in text:
            raise InvalidOutput("meta_text: remark about the rewrite")
        return len(text)

    server.fail_next("meta")
    c = client(server, tmp_path, concurrency=1)
    res = c.run(reqs(1), validate=validate, max_attempts=2)[0]
    assert res.status == "ok" and res.attempts == 2 and res.value == len(res.text)
    assert res.errors == ["meta_text: remark about the rewrite"]
    server.fail_next("meta")
    res = c.run(reqs(1, "other"), validate=validate, max_attempts=1)[0]
    assert res.status == "invalid" and res.attempts == 1
    # both attempts of the first request are stored: nothing is asked again
    c.run(reqs(1), validate=validate, max_attempts=2)
    assert server.count() == 3


def test_spend_guard_stops_cleanly_and_resumes(server, tmp_path):
    c = client(server, tmp_path, concurrency=1, max_requests=3)
    results = c.run(reqs(8))
    assert [r.status for r in results].count("ok") == 3
    assert [r.status for r in results].count("skipped") == 5
    assert c.stats.stopped_by == "max_requests=3" and server.count() == 3
    c = client(server, tmp_path, concurrency=1)
    assert all(r.status == "ok" for r in c.run(reqs(8)))
    assert server.count() == 8 and c.stats.store_hits == 3


def billed(server, faults=(None, "timeout")):
    """What the server billed at 1.0 per 1k output tokens: every answer it computed, also those the
    client gave up waiting for."""
    from soulchat.testing.llm_server import default_responder

    return sum(len(default_responder(e.body)) for e in server.log if e.fault in faults) / 1000


def test_cost_guard_is_a_hard_cap_under_concurrency(server, tmp_path):
    # ~28 completion tokens per answer at 1.0 per 1k, each reserved at max_tokens=40 (0.04) while in
    # flight: 8 at once would spend 0.22; the guard lets 3 through
    c = client(server, tmp_path, concurrency=8, max_cost=0.1, max_tokens=40,
               prices_per_1k={"input": 0.0, "output": 1.0})
    results = c.run(reqs(8))
    assert c.stats.stopped_by == "max_cost=0.1"
    assert 0 < server.count() < 8 and [r.status for r in results].count("skipped") == 8 - server.count()
    assert billed(server) <= 0.1 and c.stats.cost == pytest.approx(billed(server))


def test_max_requests_counts_retries(server, tmp_path):
    server.fail_next("500", n=4)
    c = client(server, tmp_path, concurrency=2, max_requests=6)
    results = c.run(reqs(10))
    assert server.count() == 6 and c.stats.network == 6 and c.stats.retries == 4
    assert c.stats.stopped_by == "max_requests=6" and sum(r.left for r in results) == 8


def test_abandoned_requests_count_at_their_bound(server, tmp_path):
    server.hang_s = 0.6
    server.fail_next("timeout")  # answered (and billed) by the server after the client gave up
    c = client(server, tmp_path, concurrency=1, timeout_s=0.2, max_tokens=40,
               prices_per_1k={"input": 0.0, "output": 1.0})
    assert [r.status for r in c.run(reqs(2))] == ["ok", "ok"]
    time.sleep(0.6)  # the hung answer is finished
    assert c.stats.abandoned == 1 and server.count() == 3
    assert c.stats.cost >= billed(server) and c.stats.cost == pytest.approx(billed(server, (None,)) + 0.04)


def test_spend_ledger_is_cumulative_across_runs(server, tmp_path):
    ledger = tmp_path / "spend.json"
    c = client(server, tmp_path, concurrency=2, max_requests=5)
    assert [r.status for r in c.run(reqs(3), ledger=ledger)] == ["ok"] * 3
    results = c.run(reqs(4, "other"), ledger=ledger)  # 3 already spent by the first run
    assert [r.status for r in results] == ["ok", "ok", "skipped", "skipped"] and server.count() == 5
    assert "over 2 runs" in c.guard.describe() and c.stats.network == 2
    assert client(server, tmp_path, max_requests=5).run(reqs(1, "third"))[0].status == "ok"  # no ledger


@pytest.mark.parametrize("url, shown", [("http://user:hunter2@127.0.0.1:1/v1", "credentials"),
                                        ("localhost:8000/v1", "http(s) URL"), ("http://h:port/v1", "valid URL")])
def test_bad_base_url_is_refused_before_any_request(server, tmp_path, url, shown):
    with pytest.raises(FatalEndpointError, match=re.escape(shown)) as err:
        client(server, tmp_path, base_url=url)
    assert "hunter2" not in str(err.value)


def test_unknown_model_stops_at_once(server, tmp_path):
    server.models = ("gpt-3.5-turbo",)
    c = client(server, tmp_path, concurrency=1, model="no-such-model")
    with pytest.raises(FatalEndpointError, match="404.*does not exist"):
        c.run(reqs(5))
    assert server.count() == 1 and c.stats.retries == 0


def test_a_request_that_cannot_be_built_is_fatal_and_not_counted(server, tmp_path):
    c = client(server, tmp_path, concurrency=1, temperature=float("nan"))  # not JSON: the body cannot be built
    with pytest.raises(FatalEndpointError, match="no request could be built.*ValueError.*endpoint.temperature"):
        c.run(reqs(3))
    assert server.count() == 0 and c.stats.network == 0 and c.stats.retries == 0


def test_endpoint_down_leaves_items_for_the_next_run(server, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = client(server, tmp_path, concurrency=2, max_retries=2, base_url=f"http://127.0.0.1:{port}/v1")
    results = c.run(reqs(10))
    assert all(r.left for r in results) and c.stats.unfinished >= 3 and c.stats.skipped >= 5
    assert results[-1].errors[0].startswith("run_stopped: endpoint_down")
    assert c.stats.network == 0 and c.stats.abandoned == 0, "refused connections sent nothing"


def test_offline_miss_says_how_to_go_live(tmp_path):
    from omegaconf import OmegaConf

    from soulchat.llm.components import EndpointConfig

    cfg = OmegaConf.structured(EndpointConfig(name="recorded", store=str(tmp_path / "s.sqlite"), recorded=[]))
    with pytest.raises(StoreMiss, match=r"endpoint=openai endpoint.base_url="):
        LLMClient(cfg, progress=False).run(reqs(3))


def test_readonly_recordings_are_consulted(server, tmp_path):
    c = client(server, tmp_path / "a")
    c.run(reqs(4))
    c.store.close()
    recorded = tmp_path / "a" / "store.sqlite"
    cfg = server.endpoint(tmp_path / "b.sqlite", recorded=[str(recorded)], base_url=None)
    offline = LLMClient(cfg, progress=False, store=open_stores(cfg))
    assert all(r.status == "ok" and r.from_store == 1 for r in offline.run(reqs(4)))
    assert offline.stats.network == 0 and server.count() == 4


def test_rate_limiter_paces_requests():
    import asyncio

    async def go():
        limiter = RateLimiter(rpm=1200, tpm=None)  # 20/s, bursts of 120
        t0 = time.perf_counter()
        for _ in range(130):
            await limiter.acquire(0)
        return time.perf_counter() - t0

    elapsed = asyncio.run(go())
    assert elapsed >= 0.4  # 10 requests over the burst at 20/s wait ~0.5 s (no upper bound: a loaded CI machine is slower)


def test_backoff_grows_with_jitter_and_retry_after_wins():
    delays = [retry_delay(k, 1.0, 60.0, None) for k in range(4)]
    assert all(0.5 * 2 ** k <= d <= 2 ** k for k, d in enumerate(delays))
    assert retry_delay(0, 1.0, 60.0, 5.0) == 5.0
    assert retry_delay(10, 1.0, 8.0, None) <= 8.0


def test_spend_guard_reserves_bounds_and_prices_abandoned_requests():
    import asyncio

    async def go():
        guard = SpendGuard(max_total_tokens=250, prices_per_1k={"input": 1.0, "output": 2.0})
        assert await guard.acquire(50, 100)
        waiter = asyncio.ensure_future(guard.acquire(50, 100))  # 150 reserved + 150 > 250: waits
        await asyncio.sleep(0.01)
        assert not waiter.done()
        guard.settle(50, 100, "answered", 30, 20)  # 50 spent, nothing reserved: it fits
        assert await waiter
        guard.settle(50, 100, "abandoned")  # a timeout: the server may bill the whole bound
        assert (guard.total.tokens, guard.total.abandoned) == (200, 1)
        assert guard.cost == pytest.approx((30 + 50) / 1000 + (20 + 100) * 2 / 1000)
        assert not await guard.acquire(50, 100) and guard.tripped == "max_total_tokens=250"

    asyncio.run(go())


def test_ledger_counts_a_killed_runs_requests_in_flight(tmp_path):
    import asyncio

    from soulchat.errors import SoulchatError

    ledger = tmp_path / "spend.json"
    guard = SpendGuard(max_requests=3, ledger=ledger)
    assert asyncio.run(guard.acquire(10, 5))  # in flight when the process dies: no settle, no close
    again = SpendGuard(max_requests=3, ledger=ledger)
    assert (again.total.requests, again.total.abandoned, again.total.tokens, again.runs) == (1, 1, 15, 2)
    ledger.write_text("not json")
    with pytest.raises(SoulchatError, match="unreadable spend ledger"):
        SpendGuard(ledger=ledger)


def test_streamed_results_arrive_in_request_order(server, tmp_path):
    server.retry_after = 0.3
    server.fail_next("429")  # the first request finishes last
    seen = []
    c = client(server, tmp_path, concurrency=4)
    out = c.run((r for r in reqs(12)), on_result=lambda req, res: seen.append((req.id, res.id, res.status)),
                keep=False)
    assert out == []
    assert seen == [(f"q{i}", f"q{i}", "ok") for i in range(12)]
    assert c.stats.items == 12 and c.stats.retries == 1


def test_strict_json_answers_are_reasked(monkeypatch, tmp_path):
    """The CEHS judge's use: JSON answers, request parameters of its own, re-asked when invalid."""
    import json

    from soulchat.testing.llm_server import TestServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def validate(text, req):
        try:
            scores = json.loads(text)
        except ValueError:
            raise InvalidOutput("not_json: the answer is not JSON") from None
        if set(scores) != {"content", "empathy", "helpfulness", "safety"}:
            raise InvalidOutput(f"bad_keys: {sorted(scores)}")
        return scores

    answer = '{"content": 2, "empathy": 1, "helpfulness": 2, "safety": 1}'
    with TestServer(responder=lambda body: answer) as srv:
        srv.fail_next("malformed")
        c = LLMClient(srv.endpoint(tmp_path / "s.sqlite"), progress=False)
        judge = [Request(id="p1", messages=[{"role": "system", "content": "CEHS"}, {"role": "user", "content": "…"}],
                         key={"rubric": "cehs-v1", "sample": "p1"},
                         params={"temperature": 0.0, "response_format": {"type": "json_object"}})]
        res = c.run(judge, validate=validate, max_attempts=3)[0]
        assert res.status == "ok" and res.attempts == 2 and res.value["empathy"] == 1
        assert res.errors == ["not_json: the answer is not JSON"]
        body = srv.chat_bodies()[-1]
        assert body["temperature"] == 0.0 and body["response_format"] == {"type": "json_object"}


def test_the_heap_freeze_is_undone_after_a_run(server, tmp_path):
    import gc

    c = client(server, tmp_path)
    assert gc.get_freeze_count() == 0
    assert [r.status for r in c.run(reqs(8))] == ["ok"] * 8
    assert gc.get_freeze_count() == 0, "the run left the heap frozen"
    gc.freeze()  # frozen by the caller: the run leaves it so
    try:
        c.run(reqs(8, prefix="r"))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
