"""A concern (the learned screen's tier) in front of a real model: the terminal conversation and the
server let the model answer and add the guard's note after the reply, marked, without the text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from soulchat.guard import learned
from soulchat.guard.components import CrisisGuardConfig
from soulchat.guard.crisis import CrisisGuard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chat"))

from chat_support import get_json, post, serving, sse_events  # noqa: E402

CONCERN = "唉，好想紫砂"  # the slang 紫砂 (suicide): the rules do not know it, the tiny model below does


@pytest.fixture(scope="module")
def engine(random_hf):
    from soulchat.chat.engine import Engine

    eng = Engine(random_hf, 256, None, 4, 0, "cpu", "float32")
    yield eng
    eng.close()


def test_the_conversation_adds_the_note_after_the_models_reply(engine):
    from soulchat.chat.engine import Sampling
    from soulchat.chat.session import Conversation

    model = learned.fit(["我想紫砂", "好想紫砂了", "真的想紫砂", "今天天气很好", "我想去吃火锅", "我在学做饭"],
                        ["suicide", "suicide", "suicide", "none", "none", "none"])
    guard = CrisisGuard(OmegaConf.structured(CrisisGuardConfig(name="crisis", hotlines=["测试热线：000-1234"])), model=model)
    conv = Conversation(engine, guard, Sampling(8, 0.95, 0.75, 50))
    events = []
    reply = conv.say(CONCERN, lambda kind, piece: events.append((kind, piece)))
    kinds = [k for k, _ in events]
    assert kinds[0] == "reply" and kinds[-1] == "note" and "crisis" not in kinds  # the model answered first
    assert "测试热线：000-1234" in events[-1][1]
    assert conv.messages[-1] == {"role": "assistant", "content": reply, "note": guard.note(guard.screen_user(CONCERN))}
    assert "测试热线" not in reply  # the model's history keeps its own words
    events.clear()
    conv.say("今天天气很好", lambda kind, piece: events.append((kind, piece)))
    assert "note" not in [k for k, _ in events] and "note" not in conv.messages[-1]


def test_the_server_adds_the_note_marked_as_a_concern(random_hf):
    # a threshold this low makes every message the rules let through a concern: the path, not the model, is tested
    with serving([str(random_hf), "guard.concern_threshold=0.001", "generate.max_new_tokens=8"]) as (url, *_):
        for stream in (False, True):
            before = get_json(f"{url}/health")["requests"]
            text = "我最近总是失眠，心里很烦。"
            status, body = post(f"{url}/v1/chat/completions", {"messages": [{"role": "user", "content": text}],
                                                                "stream": stream})
            assert status == 200, body
            if stream:
                events = sse_events(body)
                marked = [e for e in events[:-1] if "guard" in e]
                assert len(marked) == 1 and events.index(marked[0]) == len(events) - 3  # after the reply, before the end
                note, guard = marked[0]["choices"][0]["delta"]["content"], marked[0]["guard"]
            else:
                note, guard = body["choices"][0]["message"]["content"], body["guard"]
                assert len(note.split("12356")[0]) > 2  # the reply comes first
            assert guard["flagged"] is False and guard["concern"] is True and guard["stage"] == "user"
            assert "12356" in note and text not in json.dumps(guard, ensure_ascii=False)
            assert get_json(f"{url}/health")["requests"] == before + 1  # the model answered
