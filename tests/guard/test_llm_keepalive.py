"""guard=llm keeps one HTTP session between screens, and servers close idle kept-alive connections
(uvicorn, which vLLM uses, after 5 s): a screen after a pause in the chat still gets the LLM's verdict."""

from __future__ import annotations

import time

import pytest

from soulchat.registry import build
from soulchat.testing.llm_server import TestServer

KEY = "sk-guard-keepalive-test"
MISSED = "猫已经托付给朋友了，游戏账号也送人了，跟大家说声再见吧"  # the rules let it through (tests/guard/test_llm.py)


def answer(body: dict) -> str:
    return '{"category": "suicide", "reason": "测试"}'


@pytest.fixture
def make(monkeypatch, compose):
    """make(server, overrides) -> guard=llm pointed at ``server`` (closed at the end)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    made = []

    def _make(server: TestServer, *overrides: str):
        made.append(build("guard", compose(["guard=llm", f"guard.base_url={server.url}", *overrides]).guard))
        return made[-1]

    yield _make
    for g in made:
        g.close()


def test_a_screen_after_the_servers_keep_alive_gets_the_llms_verdict(make):
    """The server closes the idle connection while the user types: aiohttp sees its FIN (the guard's
    loop runs between screens) and does not reuse it."""
    with TestServer(responder=answer, keepalive_s=0.2) as server:
        g = make(server)
        assert g.screen_user(MISSED).flagged
        time.sleep(0.6)
        assert g.screen_user(MISSED).flagged
        assert server.count() == 2 and g.stats.answered == 2 and not g.stats.failed


def test_a_connection_closed_unannounced_after_an_answer_is_not_reused(make):
    """A server or proxy that closes a connection after answering without ``Connection: close``."""
    with TestServer(responder=answer) as server:
        g = make(server)
        for _ in range(2):
            server.fail_next("close")
            assert g.screen_user(MISSED).flagged
            assert g.screen_user(MISSED).flagged  # at once, on the closed connection's heels
        assert server.count() == 4 and g.stats.answered == 4 and not g.stats.failed


def test_a_kept_connection_closed_as_a_screen_goes_out_is_sent_again_on_a_new_one(make, monkeypatch):
    """The server's keep-alive ends as the next screen goes out: its close crosses the request, which
    the client sees as a connection dropped before the answer (the server's ``drop``). The screen is
    sent once more, on a connection of its own, and gets the verdict; the retry is a request."""
    from soulchat.llm import transport

    opened, real = [], transport.open_api
    monkeypatch.setattr(transport, "open_api", lambda *a: opened.append(real(*a)) or opened[-1])
    with TestServer(responder=answer) as server:
        g = make(server)
        assert g.screen_user(MISSED).flagged
        server.fail_next("drop")
        assert g.screen_user(MISSED).flagged
        assert server.count() == 3 and server.count(fault="drop") == 1
        assert g.stats.answered == 2 and not g.stats.failed and g.stats.as_metrics()["retried"] == 1
        assert len(opened) == 2 and opened[1].is_closed() and not opened[0].is_closed()  # a one-off session
        server.fail_next("drop", n=2)  # dropped again on the new connection: the failure stands
        assert not g.screen_user(MISSED).flagged and g.stats.failed == {"connection": 1}
        assert server.count() == 5 and g.screen_user(MISSED).flagged  # the kept session still serves


def test_sending_again_respects_the_spend_caps(make):
    with TestServer(responder=answer) as server:
        g = make(server, "guard.max_requests=1")
        server.fail_next("drop")
        assert not g.screen_user(MISSED).flagged
        assert server.count() == 1 and g.stats.failed == {"connection": 1} and g.stats.as_metrics()["retried"] == 0


def test_screens_at_the_servers_keep_alive_boundary_all_get_the_verdict(make):
    """The real race, no fault injected: each screen goes out within a few ms of the server closing the
    connection the last one used. Without the resend about one in seven of these failed (``connection``;
    benchmarks/guard_keepalive.py --no-resend)."""
    keep = 0.15
    with TestServer(responder=answer, keepalive_s=keep) as server:
        g = make(server)
        assert g.screen_user(MISSED).flagged
        n = 20
        for i in range(n):
            time.sleep(keep - 0.004 + 0.005 * i / n)
            assert g.screen_user(MISSED).flagged, g.stats.failed
        assert g.stats.answered == n + 1 and not g.stats.failed
