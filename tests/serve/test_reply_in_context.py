"""Both routes screen the model's reply with the conversation it answers: a reply that only the earlier
messages make unsafe is replaced by the crisis answer (plain and streamed), marked stage reply."""

import asyncio
import json
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer
from scripted import ScriptedEngine

from soulchat.registry import build
from soulchat.serve.app import make_app

REPLY = "那应该够了，挑个时间一次吃完。"
CRISIS = [{"role": "user", "content": "我把这几个月的安眠药都攒下来了"},
          {"role": "assistant", "content": "我很担心你，愿意多说一些吗？"},
          {"role": "user", "content": "我就是觉得很累"}]
ORDINARY = [{"role": "user", "content": "我把这几个月的优惠券都攒下来了"},
            {"role": "assistant", "content": "挺会过日子的。"},
            {"role": "user", "content": "我就是觉得很累"}]


def ask(cfg, path, body):
    async def run():
        app = make_app(cfg, ScriptedEngine(REPLY), build("guard", cfg.guard), None)
        async with TestClient(TestServer(app)) as client:
            resp = await client.post(path, json=body)
            return resp.status, await resp.text()

    return asyncio.run(run())


def answer_of(text, stream):
    if not stream:
        body = json.loads(text)
        choice = body["choices"][0]
        return choice.get("message", {}).get("content") or choice.get("text"), body.get("guard")
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    words = "".join((e["choices"][0].get("delta") or {}).get("content") or e["choices"][0].get("text") or ""
                    for e in events if e.get("choices"))
    return words, next((e["guard"] for e in events if "guard" in e), None)


@pytest.fixture(scope="module")
def cfg():
    from soulchat.config import compose

    logging.disable(logging.WARNING)
    yield compose(["tracking.enabled=false", "guard.learned=false", "guard.context_rules=true"])
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("stream", [False, True])
def test_chat_route_reads_the_reply_after_the_history(cfg, stream):
    status, text = ask(cfg, "/v1/chat/completions", {"messages": CRISIS, "stream": stream})
    words, guard = answer_of(text, stream)
    assert status == 200 and "12356" in words and guard == {"flagged": True, "stage": "reply", "category": "unsafe_reply"}
    status, text = ask(cfg, "/v1/chat/completions", {"messages": ORDINARY, "stream": stream})
    words, guard = answer_of(text, stream)
    assert status == 200 and words == REPLY and guard is None


@pytest.mark.parametrize("stream", [False, True])
def test_completions_route_reads_the_reply_after_the_prompt_turns(cfg, stream):
    def prompt(messages):
        names = {"user": "用户", "assistant": "心理咨询师"}
        return "\n".join(f"{names[m['role']]}：{m['content']}" for m in messages) + "\n心理咨询师："

    status, text = ask(cfg, "/v1/completions", {"prompt": prompt(CRISIS), "stream": stream})
    words, guard = answer_of(text, stream)
    assert status == 200 and "12356" in words and guard["stage"] == "reply"
    status, text = ask(cfg, "/v1/completions", {"prompt": prompt(ORDINARY), "stream": stream})
    words, guard = answer_of(text, stream)
    assert status == 200 and words == REPLY and guard is None
