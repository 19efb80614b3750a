"""``POST /v1/completions`` of ``soulchat serve`` over real HTTP: a prompt in the paper's format is
answered as the same history through chat (training's ids, the guard on its last user turn), stop
sequences end the text (plain and streamed), bad bodies get OpenAI-shaped 4xx; and
``generator=openai generator.endpoint=completions`` generating through the server of a trained model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from chat_support import KEY, get_json, post, soulchat, sse_events

from soulchat.corpus.format import render_input
from soulchat.generate.openai import cut_at_stop, find_stop
from soulchat.serve.completions import StopScan, prompt_messages

CRISIS_USER = "我真的撑不下去了，今晚就想自杀。"
HISTORY = [{"role": "user", "content": "我和男朋友总吵架。"}, {"role": "assistant", "content": "能说说原因吗？"},
           {"role": "user", "content": "他总说我不理解他，我很委屈。"}]
GREEDY = {"temperature": 0, "top_p": 0.01, "max_tokens": 24}  # the same text for the same prompt


def complete(url, prompt, **extra):
    return post(f"{url}/v1/completions", {"model": "soulchat", "prompt": prompt, **extra})


def test_a_paper_prompt_is_answered_as_its_history_through_chat(server):
    status, body = complete(server, render_input(HISTORY), max_tokens=12)
    assert status == 200, body
    assert body["object"] == "text_completion" and body["model"] == "soulchat" and "guard" not in body
    choice = body["choices"][0]
    assert isinstance(choice["text"], str) and choice["finish_reason"] in ("stop", "length")
    _, chat = post(f"{server}/v1/chat/completions", {"messages": HISTORY, "max_tokens": 12})
    # the prompt was read back into its turns and encoded as training did: the same ids as chat's
    assert body["usage"]["prompt_tokens"] == chat["usage"]["prompt_tokens"]
    assert 0 < body["usage"]["completion_tokens"] <= 12
    status, free = complete(server, "今天天气不错，", max_tokens=4)  # not the format: tokenised as it is
    assert status == 200 and 0 < free["usage"]["prompt_tokens"] < body["usage"]["prompt_tokens"]


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences_end_the_text(server, stream):
    _, whole = complete(server, render_input(HISTORY[:1]), **GREEDY)
    text = whole["choices"][0]["text"]
    stop = next((text[i:i + 2] for i in range(len(text) // 3, len(text) - 1) if text[i:i + 2].strip() == text[i:i + 2]),
                None)
    if stop is None:
        pytest.skip(f"the greedy reply {text!r} has no two visible characters to stop at")
    expected = text[:text.find(stop)].strip()
    status, got = complete(server, render_input(HISTORY[:1]), stop=[stop, "\n用户："], stream=stream, **GREEDY)
    assert status == 200
    if stream:
        events = sse_events(got)
        assert events[-1] == "[DONE]" and all(e["object"] == "text_completion" for e in events[:-1])
        said = "".join(e["choices"][0]["text"] for e in events[:-1]).strip()
        finish = events[-2]["choices"][0]["finish_reason"]
        assert events[-2]["usage"]["completion_tokens"] > 0
    else:
        said, finish = got["choices"][0]["text"], got["choices"][0]["finish_reason"]
    assert said == expected and stop not in said and finish == "stop"


@pytest.mark.parametrize("prompt", [render_input([*HISTORY[:2], {"role": "user", "content": CRISIS_USER}]),
                                    CRISIS_USER])
@pytest.mark.parametrize("stream", [False, True])
def test_a_crisis_prompt_gets_the_guard_response_not_the_model(server, prompt, stream):
    before = get_json(f"{server}/health")["requests"]
    status, body = complete(server, prompt, stream=stream)
    assert status == 200
    if stream:
        marked = [e for e in sse_events(body)[:-1] if "guard" in e]
        assert len(marked) == 1
        text, guard = marked[0]["choices"][0]["text"], marked[0]["guard"]
    else:
        text, guard = body["choices"][0]["text"], body["guard"]
    assert guard["flagged"] is True and guard["stage"] == "user" and guard["category"] == "suicide"
    assert "12356" in text
    assert get_json(f"{server}/health")["requests"] == before  # the model was not asked


@pytest.mark.parametrize("body, status, param", [
    (b"{not json", 400, None),
    ({}, 400, "prompt"),
    ({"prompt": 3}, 400, "prompt"),
    ({"prompt": ["a", "b"]}, 400, "prompt"),
    ({"prompt": "  "}, 400, "prompt"),
    ({"prompt": "你好", "n": 2}, 400, "n"),
    ({"prompt": "你好", "max_tokens": 0}, 400, "max_tokens"),
    ({"prompt": "你好", "max_tokens": 1025}, 400, "max_tokens"),
    ({"prompt": "你好", "top_p": 0}, 400, "top_p"),
    ({"prompt": "你好", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"prompt": "你好", "stop": [""]}, 400, "stop"),
    ({"prompt": "你好", "echo": True}, 400, "echo"),
    ({"prompt": "你好", "stream": "yes"}, 400, "stream"),
    ({"prompt": render_input([{"role": "user", "content": "你好"}, {"role": "assistant", "content": "嗯"}] * 4
                             + [{"role": "user", "content": "在吗"}])}, 400, "prompt"),  # 9 turns, the limit is 8
    ({"prompt": "你" * 20000}, 413, None),
    ({"model": "gpt-4", "prompt": "你好"}, 404, "model"),
])
def test_bad_completion_requests_get_openai_shaped_errors(server, body, status, param):
    got, err = post(f"{server}/v1/completions", body)
    assert got == status, err
    assert set(err["error"]) == {"message", "type", "param", "code"} and err["error"]["message"]
    assert err["error"]["param"] == param


def test_prompts_are_read_back_only_when_they_are_the_format():
    assert prompt_messages(render_input(HISTORY), 8) == HISTORY
    multiline = [{"role": "user", "content": "第一行\n第二行"}]
    assert prompt_messages(render_input(multiline), 8) == multiline
    for other in ("你好", "用户：你好\n心理咨询师：嗯\n", "用户：你好\n心理咨询师：嗯",
                  "前言\n用户：你好\n心理咨询师：", render_input(HISTORY)[3:]):
        assert prompt_messages(other, 8) is None, other


def test_stop_scan_cuts_at_the_first_stop_however_the_text_is_split():
    rng = random.Random(0)
    for text, stops, expected in [("你好\n用户：再见", ["\n用户："], "你好"), ("abcabd", ["abd", "ca"], "ab"),
                                  ("没有停止", ["\n用户："], "没有停止"), ("x\n用", ["\n用户："], "x\n用")]:
        for _ in range(50):
            cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, len(text) - 1)))
            scan = StopScan(stops)
            out = "".join(scan.feed(p) for p in (text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])))
            assert out + scan.flush() == expected and scan.hit == (expected != text)


def test_stop_scan_streamed_equals_the_generators_cut_of_the_whole_text():
    """The streamed cut and ``cut_at_stop`` share one stop search: the same text for any split."""
    rng = random.Random(1)
    for _ in range(300):
        text = "".join(rng.choice("ab\n用户：") for _ in range(rng.randint(1, 12)))
        stops = ["".join(rng.choice("ab\n用户：") for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, len(text) - 1))) if len(text) > 1 else []
        scan = StopScan(stops)
        out = "".join(scan.feed(p) for p in (text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])))
        assert out + scan.flush() == cut_at_stop(text, stops), (text, stops)
        assert scan.hit == (find_stop(text, stops) >= 0)


def test_generator_in_completions_mode_through_the_server_of_a_trained_model(keyed_server, trained, tmp_path):
    """``generator.endpoint=completions`` against the trained model: each prompt reaches the model as
    training's ids for its history (the server's prompt_tokens), and no reply runs into a next turn."""
    from soulchat.chat.model import input_budget
    from soulchat.corpus.format import encode_input
    from soulchat.llm import ResponseStore
    from soulchat.model.tokenizer import load_pretrained

    url, *_ = keyed_server
    before = get_json(f"{url}/health")["requests"]
    store = tmp_path / "store.sqlite"
    proc = soulchat(["stages=[generate]", "generator=openai", "generator.endpoint=completions",
                     f"generator.base_url={url}/v1", "generator.model=soulchat", "generator.api_key_env=SERVE_TEST_KEY",
                     f"generator.tokenizer={trained['hf']}", f"generator.store={store}", "generator.recorded=[]",
                     "generate.max_samples=6", "generate.max_new_tokens=16", "tracking.enabled=false"],
                    env={"SOULCHAT_OUTPUTS": str(trained["outputs"]), "SERVE_TEST_KEY": KEY})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert get_json(f"{url}/health")["requests"] - before == 6  # the server answered them
    stored = list(ResponseStore(store).items())
    assert len(stored) == 6
    tests = {}
    for path in Path(trained["outputs"]).glob("cache/corpus/*/test.jsonl"):
        tests.update({r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())})
    tok = load_pretrained(trained["hf"])
    max_in, max_hist = input_budget(Path(trained["hf"]), None)
    for s in stored:
        history = tests[s.item]["history"]
        assert s.prompt_tokens == len(encode_input(tok, history, max_in, max_hist))
        assert "\n用户：" not in (s.text or "") and s.finish_reason in ("stop", "length")
    assert KEY not in proc.stdout + proc.stderr
