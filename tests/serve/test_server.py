"""``soulchat serve`` over real HTTP: the OpenAI protocol (plain and streamed), the guard's answers,
limits and errors, the bearer key, on-the-fly batching, and clients that are slow or go away."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from chat_support import KEY, get_json, post, sse_events

CRISIS_USER = "我真的撑不下去了，今晚就想自杀。"


def chat(url, messages, **extra):
    return post(f"{url}/v1/chat/completions", {"model": "soulchat", "messages": messages, **extra})


def test_models_health_and_page(server):
    models = get_json(f"{server}/v1/models")
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["soulchat"]
    assert get_json(f"{server}/health")["status"] == "ok"
    with urllib.request.urlopen(f"{server}/", timeout=30) as resp:
        page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
    assert "人工智能（AI）" in page and 'id="reset"' in page  # the disclosure, filled in
    assert "12356" in page  # with the hotlines, shown before anything is said
    # self-contained: nothing is fetched from elsewhere (works offline)
    assert "http://" not in page and "https://" not in page and "<link" not in page and " src=" not in page


def test_plain_completion_is_openai_shaped(server):
    status, body = chat(server, [{"role": "system", "content": "你是心理咨询师。"},
                                 {"role": "user", "content": "我最近总是失眠，心里很烦。"}], max_tokens=12)
    assert status == 200, body
    assert body["object"] == "chat.completion" and body["model"] == "soulchat" and "guard" not in body
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    u = body["usage"]
    assert 0 < u["completion_tokens"] <= 12 and u["prompt_tokens"] > 5
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]


def test_streamed_completion_arrives_in_pieces(server):
    status, text = post(f"{server}/v1/chat/completions",
                        {"messages": [{"role": "user", "content": "工作压力很大。"}], "stream": True, "max_tokens": 20})
    assert status == 200
    events = sse_events(text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(pieces) >= 2 and all(pieces)  # the random-init model says 20 tokens: several events
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert 0 < chunks[-1]["usage"]["completion_tokens"] <= 20


@pytest.mark.parametrize("stream", [False, True])
def test_crisis_message_gets_the_guard_response_not_the_model(server, stream):
    before = get_json(f"{server}/health")["requests"]
    status, body = post(f"{server}/v1/chat/completions",
                        {"messages": [{"role": "user", "content": CRISIS_USER}], "stream": stream})
    assert status == 200
    if stream:
        events = sse_events(body)
        marked = [e for e in events[:-1] if "guard" in e]
        assert len(marked) == 1 and marked[0]["guard"]["stage"] == "user"
        text = marked[0]["choices"][0]["delta"]["content"]
        guard = marked[0]["guard"]
    else:
        text, guard = body["choices"][0]["message"]["content"], body["guard"]
    assert guard["flagged"] is True and guard["category"] == "suicide"
    assert "12356" in text  # the configured hotline
    assert CRISIS_USER not in json.dumps(guard, ensure_ascii=False)
    assert get_json(f"{server}/health")["requests"] == before  # the model was not asked


@pytest.mark.parametrize("body, status, param", [
    (b"{not json", 400, None),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好"}]}, 400, "messages"),
    ({"messages": [{"role": "robot", "content": "你好"}]}, 400, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 3}]}, 400, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "你好"}]} | {"max_tokens": 1025}, 400, "max_tokens"),
    ({"messages": [{"role": "user", "content": "你好"}]} | {"max_tokens": 0}, 400, "max_tokens"),
    ({"messages": [{"role": "user", "content": "你好"}]} | {"temperature": 9}, 400, "temperature"),
    ({"messages": [{"role": "user", "content": "你好"}]} | {"n": 2}, 400, "n"),
    ({"messages": [{"role": "user", "content": "你好"}] * 9}, 400, "messages"),
    ({"messages": [{"role": "user", "content": "你" * 20000}]}, 413, None),
    ({"model": "gpt-4", "messages": [{"role": "user", "content": "你好"}]}, 404, "model"),
])
def test_bad_requests_get_openai_shaped_errors(server, body, status, param):
    got, err = post(f"{server}/v1/chat/completions", body)
    assert got == status, err
    assert set(err["error"]) == {"message", "type", "param", "code"} and err["error"]["message"]
    assert err["error"]["param"] == param


def test_unknown_path_and_method_are_openai_shaped(server):
    status, err = post(f"{server}/v1/embeddings", {"input": "x"})
    assert status == 404 and err["error"]["type"] == "not_found_error"
    status, err = post(f"{server}/v1/models", {})
    assert status == 405 and err["error"]["message"]


def test_bearer_key_required_when_set(keyed_server):
    url, *_ = keyed_server
    msgs = [{"role": "user", "content": "我有点焦虑。"}]
    status, err = chat(url, msgs)
    assert status == 401 and err["error"]["code"] == "invalid_api_key"
    status, _ = post(f"{url}/v1/chat/completions", {"messages": msgs}, {"Authorization": "Bearer wrong"})
    assert status == 401
    status, body = post(f"{url}/v1/chat/completions", {"messages": msgs, "max_tokens": 8},
                        {"Authorization": f"Bearer {KEY}"})
    assert status == 200 and body["choices"][0]["message"]["role"] == "assistant"
    assert get_json(f"{url}/health")["status"] == "ok"  # health stays open for probes


def test_concurrent_requests_are_batched_on_the_fly(server):
    before = get_json(f"{server}/health")
    msgs = [[{"role": "user", "content": f"第{i}个人：我心里很乱，不知道怎么办。"}] for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda m: chat(server, m, max_tokens=48), msgs))
    assert all(s == 200 for s, _ in results)
    after = get_json(f"{server}/health")
    served = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    assert served == 12
    assert batches < 12 and after["largest_batch"] > 1  # requests that waited joined one batch


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def test_stalled_and_vanishing_clients_block_nobody(server):
    # a client that sends half its body and stalls, and one that reads nothing of its stream
    stalled = _raw(server)
    stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 500\r\n\r\n{\"messages\": [")
    body = json.dumps({"messages": [{"role": "user", "content": "我很孤独。"}], "stream": True,
                       "max_tokens": 1000}).encode()  # long: a new request must not wait for all of it
    mute = _raw(server)
    mute.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    t0 = time.monotonic()
    status, reply = chat(server, [{"role": "user", "content": "我睡不着。"}], max_tokens=8)
    assert status == 200 and time.monotonic() - t0 < 30, reply
    # a client that leaves mid-stream frees its row: the engine counts it cancelled
    cancelled = get_json(f"{server}/health")["finish_reasons"].get("cancelled", 0)
    leaver = _raw(server)
    leaver.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    got = b""
    while b"data:" not in got:  # the headers, then the first event
        got += leaver.recv(4096)
    leaver.close()
    deadline = time.monotonic() + 30
    while get_json(f"{server}/health")["finish_reasons"].get("cancelled", 0) <= cancelled:
        assert time.monotonic() < deadline, "a vanished client's row was never cancelled"
        time.sleep(0.05)
    stalled.close()
    mute.close()


def test_key_never_reaches_the_output(keyed_server):
    url, _, log, startup = keyed_server
    post(f"{url}/v1/chat/completions", {"messages": [{"role": "user", "content": "你好"}]},
         {"Authorization": f"Bearer {KEY}"})
    printed = startup + log.read_text(encoding="utf-8")  # stdout says only the startup lines; the rest is logged
    assert "SOULCHAT_API_KEY" in printed  # it says where the key comes from ...
    assert KEY not in printed  # ... never the key
