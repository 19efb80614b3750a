"""guard=llm over real HTTP to the local OpenAI-compatible test server: the LLM adds what the rules
miss, the rules are a floor, every failure leaves the rules' verdict (counted, logged without the
text or the key), and the guard bench measures it with config overrides."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time

import pytest

from soulchat.errors import ConfigError
from soulchat.guard import CATEGORIES, Guard
from soulchat.guard.llm_prompts import PROMPT, REPLY_PROMPT, parse
from soulchat.guard.measure import default_guard
from soulchat.llm import InvalidOutput
from soulchat.registry import build
from soulchat.testing.llm_server import TestServer

KEY = "sk-guard-test-secret-9f8e7d"
#: rules let these through (each test checks that first); the server says they are crises
MISSED = "猫已经托付给朋友了，游戏账号也送人了，跟大家说声再见吧"
MISSED_REPLY = "你说的那个地方，晚上去的人很少。"
RULE_HIT = "我不想活了"
ORDINARY = "今天和同事一起吃了午饭，聊得挺开心"
_SECTION = re.compile(r"<(message|reply)>\n(.*?)\n</\1>", re.S)


def answer(body: dict) -> str:
    """The test server's classifier: a crisis category for the texts above, none otherwise."""
    m = _SECTION.search(body["messages"][-1]["content"])
    text = m.group(2) if m else ""
    if text == MISSED:
        category = "suicide"
    elif text == MISSED_REPLY:
        category = "unsafe_reply"
    elif text == RULE_HIT:
        category = "abuse"  # disagrees with the rules' category: the rules' verdict wins
    else:
        category = "none"
    return json.dumps({"category": category, "reason": "测试"}, ensure_ascii=False)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with TestServer(responder=answer, hang_s=3.0) as srv:
        yield srv


@pytest.fixture
def llm_guard(server, compose):
    """make(overrides) -> the composed guard=llm pointed at the server."""
    made = []

    def make(*overrides: str):
        g = build("guard", compose(["guard=llm", f"guard.base_url={server.url}", *overrides]).guard)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


@pytest.fixture(scope="module")
def rules():
    return default_guard("crisis")


def test_the_llm_flags_what_the_rules_miss(llm_guard, server, rules):
    assert not rules.screen_user(MISSED).flagged, "premise: the rules miss this wording; pick another"
    g = llm_guard()
    assert isinstance(g, Guard)
    history = [{"role": "user", "content": "最近很累"}, {"role": "assistant", "content": "愿意多说一点吗？"}]
    v = g.screen_user(MISSED, history)
    assert (v.flagged, v.category, v.reason) == (True, "suicide", "llm")
    body = server.chat_bodies()[-1]
    prompt = body["messages"][0]["content"]
    assert MISSED in prompt and "愿意多说一点吗？" in prompt and "最近很累" in prompt
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.0
    assert g.stats.as_metrics()["added"] == 1 and g.stats.answered == 1
    # a reply the reply rules miss
    assert not rules.screen_reply(MISSED_REPLY).flagged
    r = g.screen_reply(MISSED_REPLY)
    assert (r.flagged, r.category) == (True, "unsafe_reply")
    assert "<reply>" in server.chat_bodies()[-1]["messages"][0]["content"]
    assert "热线" in g.response(v)


def test_either_flags_and_the_rules_are_a_floor(llm_guard, server, rules):
    g = llm_guard()
    floor = rules.screen_user(RULE_HIT)
    assert floor.flagged and floor.category == "suicide"
    assert g.screen_user(RULE_HIT) == floor and server.count() == 0  # the rules flagged: nothing to ask
    v = g.screen_user(ORDINARY)
    assert v == rules.screen_user(ORDINARY) and not v.flagged and server.count() == 1
    assert g.screen_reply("你可以去死").category == "unsafe_reply" and server.count() == 1
    assert g.screen_reply("听起来你很难过，愿意多说一些吗？") == rules.screen_reply("听起来你很难过，愿意多说一些吗？")
    assert g.stats.asked == 2 and g.stats.answered == 2 and g.stats.added == 0 and not g.stats.failed


def test_screen_reply_false_asks_nothing_about_replies(llm_guard, server):
    g = llm_guard("guard.screen_reply=false")
    assert not g.screen_reply(MISSED_REPLY).flagged and server.count() == 0
    assert g.screen_reply("你可以去死").flagged  # the rules still screen replies
    assert g.screen_user(MISSED).flagged and server.count() == 1


@pytest.mark.parametrize("fault,code", [
    ("500", "http_500"), ("garbage", "bad_response"), ("malformed", "not_json"), ("timeout", None),
    ("401", "endpoint_refused"), ("404", "endpoint_refused"),
])
def test_a_failed_screen_leaves_the_rules_verdict(llm_guard, server, rules, caplog, fault, code):
    g = llm_guard("guard.timeout_s=0.5")
    caplog.set_level(logging.DEBUG)
    for text in (MISSED, ORDINARY):
        server.fail_next(fault)
        t0 = time.perf_counter()
        assert g.screen_user(text) == rules.screen_user(text) and not rules.screen_user(text).flagged
        assert time.perf_counter() - t0 < 2.0
    failed = g.stats.as_metrics()
    assert failed["failed"] == 2 and failed["answered"] == 0
    if code is None:  # a hang: the SDK's timeout, or the guard's deadline just after it
        assert set(g.stats.failed) <= {"timeout", "deadline"}
    else:
        assert g.stats.failed == {code: 2}
    events = [r.getMessage() for r in caplog.records if r.name == "soulchat.guard.llm"]
    assert len(events) == 2 and all("verdict stands" in e for e in events)
    assert KEY not in caplog.text and MISSED not in caplog.text and ORDINARY not in caplog.text
    assert g.screen_user(MISSED).flagged  # the next healthy answer counts again


def test_one_http_session_serves_every_screen(llm_guard, server, monkeypatch):
    """The guard's one client opens its session at the first screen and keeps it; close() closes it."""
    from soulchat.llm import transport

    opened, real = [], transport.open_api
    monkeypatch.setattr(transport, "open_api", lambda *a: opened.append(real(*a)) or opened[-1])
    g = llm_guard()
    assert not opened  # built at start, the session at the first screen
    assert [g.screen_user(t).flagged for t in (MISSED, ORDINARY, MISSED)] == [True, False, True]
    assert len(opened) == 1 and server.count() == 3 and g.stats.answered == 3
    g.close()
    assert opened[0].is_closed()
    assert g.screen_user(MISSED).flagged and len(opened) == 2  # asked again after close: a new session


def test_screens_in_flight_together_keep_their_own_counts_and_caps(llm_guard, server):
    """serve screens from worker threads at once: each screen is its own run of the guard's client, so
    the endpoint's caps hold per screen (here one request each) and the guard's counts add up."""
    from concurrent.futures import ThreadPoolExecutor

    server.latency = 0.3
    g = llm_guard("guard.max_requests=1")
    texts = [MISSED, ORDINARY] * 4
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(texts)) as pool:
        verdicts = list(pool.map(g.screen_user, texts))
    assert time.perf_counter() - t0 < 0.3 * len(texts) / 2  # they were in flight together
    assert [v.flagged for v in verdicts] == [t == MISSED for t in texts]
    assert server.count() == 8 and g.stats.asked == g.stats.answered == 8 and g.stats.added == 4
    assert not g.stats.failed


def test_the_inner_guards_concern_note_is_passed_on(compose):
    from soulchat.guard import Verdict, concern_note

    g = build("guard", compose(["guard=llm", "guard.hotlines=['测试热线：000-1234']"]).guard)
    if not callable(getattr(g.inner, "note", None)):
        pytest.skip("the inner guard has no concern note")
    concern = Verdict(False, "suicide", "concern.suicide", concern=True)
    assert concern_note(g, concern) == g.inner.note(concern) and "测试热线：000-1234" in concern_note(g, concern)


def test_an_answer_outside_the_categories_is_a_failure(llm_guard, server):
    g = llm_guard()
    server.responder = lambda body: '{"category": "unsafe_reply", "reason": "x"}'  # not a user category
    assert not g.screen_user(MISSED).flagged and g.stats.failed == {"bad_category": 1}


def test_a_dead_endpoint_is_not_asked_for_a_while(monkeypatch, compose, rules, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with TestServer() as srv:
        url = srv.url
    g = build("guard", compose(["guard=llm", f"guard.base_url={url}", "guard.down_after=2", "guard.down_for_s=60"]).guard)
    try:
        t0 = time.perf_counter()
        texts = (MISSED, ORDINARY, MISSED, RULE_HIT, ORDINARY)
        assert [g.screen_user(t) for t in texts] == [rules.screen_user(t) for t in texts]
        assert time.perf_counter() - t0 < 5.0
        assert g.stats.asked == 2 and g.stats.failed == {"connection": 2, "endpoint_down": 2}
        assert KEY not in caplog.text and MISSED not in caplog.text
    finally:
        g.close()


def test_the_key_never_reaches_the_logs(llm_guard, server, caplog):
    caplog.set_level(logging.DEBUG)
    g = llm_guard()
    g.screen_user(MISSED)
    server.fail_next("400")
    g.screen_user(ORDINARY)
    server.fail_next("401")
    g.screen_reply(MISSED_REPLY)
    assert g.stats.answered == 1 and sum(g.stats.failed.values()) == 2
    assert KEY not in caplog.text and KEY not in str(g.stats.as_metrics()) and KEY not in repr(g.cfg)


def test_a_screen_inside_a_running_event_loop(llm_guard, server):
    """The server's handlers are coroutines that call the guard synchronously."""
    g = llm_guard()

    async def handler():
        return g.screen_user(MISSED)

    assert asyncio.run(handler()).flagged


def test_a_missing_key_stops_the_start_not_a_message(compose, monkeypatch):
    from soulchat.llm import FatalEndpointError

    monkeypatch.delenv("GUARD_TEST_KEY", raising=False)
    with pytest.raises(FatalEndpointError, match="GUARD_TEST_KEY"):
        build("guard", compose(["guard=llm", "guard.base_url=http://127.0.0.1:9/v1",
                                "guard.api_key_env=GUARD_TEST_KEY"]).guard)


def test_answers_are_cached_only_where_asked(llm_guard, server, tmp_path):
    g = llm_guard()
    g.screen_user(MISSED)
    g.screen_user(MISSED)
    assert server.count() == 2 and not list(tmp_path.iterdir())  # no store: nothing kept, asked twice
    cached = llm_guard(f"guard.store={tmp_path / 'answers.sqlite'}")
    assert cached.screen_user(MISSED).flagged and cached.screen_user(MISSED).flagged
    assert server.count() == 3 and (tmp_path / "answers.sqlite").exists()


def test_without_base_url_the_rules_screen_alone(compose, caplog):
    g = build("guard", compose(["guard=llm"]).guard)
    assert "base_url is not set" in caplog.text
    assert g.screen_user(RULE_HIT).flagged and not g.screen_user(MISSED).flagged and g.stats.asked == 0


def test_config_is_the_crisis_guards_plus_the_endpoint(compose):
    cfg = compose(["guard=llm", "guard.hotlines=['测试热线：000-1234']"]).guard
    assert cfg.prompt == PROMPT and cfg.reply_prompt == REPLY_PROMPT  # the YAML is what the schema says
    g = build("guard", cfg)
    text = g.response(g.screen_user(RULE_HIT))
    assert "测试热线：000-1234" in text and "12356" not in text
    assert not build("guard", compose(["guard=llm", "guard.enabled=false"]).guard).screen_user(RULE_HIT).flagged
    with pytest.raises(ConfigError, match="guard.prompt"):
        build("guard", compose(["guard=llm", "guard.prompt='{message}'"]).guard)
    with pytest.raises(ConfigError, match="guard.inner"):
        build("guard", compose(["guard=llm", "guard.inner=llm"]).guard)
    with pytest.raises(ConfigError, match="guard.inner"):
        build("guard", compose(["guard=llm", "guard.inner=nope"]).guard)


@pytest.mark.parametrize("text,reason", [
    ("suicide", "not_json"), ("[]", "not_object"), ('{"category": "sadness"}', "bad_category"),
    ('{"reason": "x"}', "bad_category"),
])
def test_parse_rejects_with_a_reason(text, reason):
    with pytest.raises(InvalidOutput, match=reason):
        parse(text, (*CATEGORIES[:4], "none"))


def test_parse_accepts_json_and_a_fence():
    assert parse('```json\n{"category": "self_harm", "reason": "割腕"}\n```', ("self_harm", "none")) == "self_harm"
    assert parse('{"category": "none"}', ("unsafe_reply", "none")) == "none"


def test_guard_bench_takes_overrides_for_a_live_endpoint(server, tmp_path):
    from soulchat.config import CONF_DIR

    labelled = tmp_path / "set.jsonl"
    rows = [{"text": MISSED, "label": "suicide", "kind": "first_person_crisis"},
            {"text": ORDINARY, "label": "none", "kind": "ordinary"}]
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    bench = CONF_DIR.parent / "benchmarks" / "guard_bench.py"
    out = subprocess.run([sys.executable, str(bench), "--guard", "llm", f"guard.base_url={server.url}",
                          "guard.model=test-model", str(labelled)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "first-person crisis recall 1.000 (n=1" in out.stdout and "ordinary talk 0.000 (n=1" in out.stdout
    assert "'answered': 2" in out.stdout and "'added': 1" in out.stdout
    assert {b["model"] for b in server.chat_bodies()} == {"test-model"}
    assert KEY not in out.stdout + out.stderr
