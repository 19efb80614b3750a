"""Text-completions requests (``Request(prompt=...)``) through the client, the real openai package
and the local server: ``POST /v1/completions``, ``choices[].text``, usage, their own store keys."""

from __future__ import annotations

from soulchat.llm import LLMClient, Request

PROMPT = "用户：我最近总是失眠。\n心理咨询师："


def test_a_prompt_request_is_a_text_completion_with_its_own_key(server, tmp_path):
    c = LLMClient(server.endpoint(tmp_path / "store.sqlite"), concurrency=2, progress=False)
    as_prompt = Request(id="p", prompt=PROMPT, params={"stop": ["\n用户："]})
    as_chat = Request(id="c", messages=[{"role": "user", "content": PROMPT}])
    assert c.key_for(as_prompt, 1) != c.key_for(as_chat, 1)
    assert c.key_for(as_prompt, 1) != c.key_for(Request(id="p", prompt=PROMPT), 1)  # stop is keyed
    got = c.run([as_prompt, as_chat])
    assert [r.status for r in got] == ["ok", "ok"]
    assert server.count("/v1/completions") == 1 and server.count() == 1
    body = server.chat_bodies("/v1/completions")[0]
    assert body["prompt"] == PROMPT and body["stop"] == ["\n用户："] and "messages" not in body
    assert got[0].text.startswith("我能理解你的感受") and got[0].completion_tokens == len(got[0].text)
    assert got[0].prompt_tokens == len(PROMPT)  # the server's usage, not an estimate
    again = c.run([as_prompt])
    assert again[0].from_store == 1 and again[0].text == got[0].text and server.count("/v1/completions") == 1


def test_a_prompt_request_is_retried_and_filtered_like_chat(server, tmp_path):
    c = LLMClient(server.endpoint(tmp_path / "store.sqlite"), concurrency=1, progress=False)
    server.fail_next("503")
    server.fail_next("garbage")
    server.fail_next("ok")
    server.fail_next("content_filter")
    first, second = c.run([Request(id="a", prompt=PROMPT), Request(id="b", prompt=PROMPT + "嗯")])
    assert first.status == "ok" and first.attempts == 1 and c.stats.retries == 2
    assert second.status == "failed" and second.errors[0].startswith("content_filter")
