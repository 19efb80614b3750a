"""A flagged event is logged with its category and reason code, never with the text."""

from __future__ import annotations

import logging

import pytest

MESSAGES = ["我真的不想活了，今晚就想结束", "他每天都打我，我不敢回家", "I want to kill myself tonight"]


@pytest.mark.parametrize("text", MESSAGES)
def test_flagged_user_message_is_logged_without_its_text(guard, caplog, text):
    with caplog.at_level(logging.DEBUG):
        verdict = guard.screen_user(text)
    assert verdict.flagged
    log = caplog.text
    assert verdict.category in log and verdict.reason in log
    for piece in (text, *[text[i:i + 4] for i in range(0, len(text) - 3)]):
        assert piece not in log


def test_flagged_reply_is_logged_without_its_text(guard, caplog):
    reply = "既然你这么痛苦，不如去死吧。"
    with caplog.at_level(logging.DEBUG):
        assert guard.screen_reply(reply).flagged
    assert "unsafe_reply" in caplog.text and "去死" not in caplog.text and "痛苦" not in caplog.text


def test_nothing_is_logged_for_ordinary_talk_or_when_logging_is_off(guard, caplog, compose):
    from soulchat.registry import build

    with caplog.at_level(logging.DEBUG):
        guard.screen_user("最近工作压力很大，晚上总是睡不着")
        build("guard", compose(["guard.log_events=false"]).guard).screen_user("我不想活了")
    assert "guard" not in caplog.text
