"""``generator=openai generator.endpoint=completions`` over real HTTP to the local test server: the
prompt is training's input for the history, the stop sequences end the reply, failures are
Unfinished, and the setting (and the tokenizer it counts with) is in the stage's cache key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soulchat.generate import stage
from soulchat.generate.openai import STOP
from soulchat.pipeline import StageContext

COMPLETIONS = "/v1/completions"


def _run(cfg, out: Path, corpus_dir: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    return stage.run(StageContext("generate", cfg, out, {"corpus": corpus_dir}, "k", out.parent))


def _predictions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def completions_cfg(compose_cfg, tmp_path, monkeypatch):
    """completions_cfg(server, *overrides): generator=openai in completions mode against ``server``."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")

    def _cfg(server, *overrides):
        return compose_cfg("generator=openai", "generator.endpoint=completions", f"generator.base_url={server.url}",
                           "generator.recorded=[]", f"generator.store={tmp_path / 'store.sqlite'}",
                           "generator.concurrency=4", "generator.backoff_s=0.01", "generator.max_backoff_s=0.05",
                           "generator.max_retries=1", *overrides)

    return _cfg


def _tokenizer(cfg):
    from soulchat.model.tokenizer import get_tokenizer

    return get_tokenizer(cfg.model, cfg.paths.cache)


def test_completions_send_the_training_prompt_and_sampling(completions_cfg, corpus_dir, histories, tmp_path):
    from soulchat.corpus.format import encode_input, render_input
    from soulchat.testing.llm_server import TestServer

    with TestServer() as server:
        cfg = completions_cfg(server)
        metrics = _run(cfg, tmp_path / "api", corpus_dir)
        assert metrics["samples"] == 5 and server.count(COMPLETIONS) == 5 and server.count() == 0  # no chat call
        bodies = sorted(server.chat_bodies(COMPLETIONS), key=lambda b: b["prompt"])
        # a second run answers from the store: a prompt request has its own store key
        _run(cfg, tmp_path / "api2", corpus_dir)
        assert server.count(COMPLETIONS) == 5
    tok = _tokenizer(cfg)
    expected = sorted(tok.decode(encode_input(tok, h, cfg.corpus.max_input_tokens, cfg.corpus.max_history_turns))
                      for h in histories)
    assert [b["prompt"] for b in bodies] == expected == sorted(render_input(h) for h in histories)  # nothing cut
    for b in bodies:
        assert "messages" not in b and b["stop"] == list(STOP) == ["\n用户：", "\n心理咨询师："]
        assert b["top_p"] == 0.75 and b["temperature"] == 0.95 and b["max_tokens"] == 8
        assert b["prompt"].startswith("用户：") and b["prompt"].endswith("\n心理咨询师：")
    preds = _predictions(tmp_path / "api")
    assert all(p["prediction"].startswith("我能理解你的感受") for p in preds)
    assert preds[0]["settings"]["endpoint"] == "completions" and preds[0]["settings"]["stop"] == list(STOP)


def test_completions_prompt_keeps_the_history_training_kept(completions_cfg, root_cfg, corpus_dir, histories, tmp_path):
    """A small input budget drops the oldest whole turns exactly as encode_input does in training."""
    from soulchat.corpus.format import encode_input, render_input
    from soulchat.testing.llm_server import TestServer

    long = max(histories, key=lambda h: len(render_input(h)))
    tok = _tokenizer(root_cfg)
    last_only = len(encode_input(tok, long[-1:], None))
    budget = last_only + 2  # the newest user message fits, the earlier turns do not
    with TestServer() as server:
        cfg = completions_cfg(server, f"corpus.max_input_tokens={budget}")
        _run(cfg, tmp_path / "cut", corpus_dir)
        prompts = {b["prompt"] for b in server.chat_bodies(COMPLETIONS)}
    assert render_input(long) not in prompts and render_input(long[-1:]) in prompts
    assert tok.decode(encode_input(tok, long, budget)) == render_input(long[-1:])


@pytest.mark.parametrize("honour_stop", [True, False])
def test_reply_ends_at_the_next_turn(completions_cfg, corpus_dir, tmp_path, honour_stop):
    """The model's continuation into a next turn is not part of the reply, whether the server honours
    ``stop`` or ignores it (then the generator cuts the answer)."""
    from soulchat.testing.llm_server import TestServer

    def rambling(body: dict) -> str:
        return "  我在听，你慢慢说。\n用户：我还想说……\n心理咨询师：好的。"

    with TestServer(responder=rambling, honour_stop=honour_stop) as server:
        _run(completions_cfg(server), tmp_path / "s", corpus_dir)
    preds = _predictions(tmp_path / "s")
    assert len(preds) == 5 and {p["prediction"] for p in preds} == {"我在听，你慢慢说。"}


def test_unanswered_completions_raise_unfinished_and_resume(completions_cfg, corpus_dir, tmp_path):
    from soulchat.llm import Unfinished
    from soulchat.testing.llm_server import TestServer

    out = tmp_path / "f"
    with TestServer() as server:
        cfg = completions_cfg(server, "generator.concurrency=1")
        server.fail_next("400")  # refused: this item fails, the others are answered
        with pytest.raises(Unfinished, match=r"1 of 5 requests not answered.*failed.*http_400"):
            _run(cfg, out, corpus_dir)
        assert len(_predictions(out)) == 4
        _run(cfg, out, corpus_dir)  # the same command again finishes it
    assert len(_predictions(out)) == 5 and server.count(COMPLETIONS) == 6


def test_completions_mode_rejects_a_system_prompt(completions_cfg, corpus_dir, tmp_path):
    from soulchat.errors import ConfigError
    from soulchat.testing.llm_server import TestServer

    cfg = completions_cfg(TestServer(), "generator.system_prompt=counsellor")  # refused before any request
    with pytest.raises(ConfigError, match="generator.system_prompt.*endpoint=completions"):
        _run(cfg, tmp_path / "x", corpus_dir)


def test_endpoint_and_prompt_tokenizer_are_in_the_cache_key(compose_cfg, tiny_train, tmp_path):
    import shutil

    from soulchat.errors import MissingInput
    from soulchat.pipeline import plan

    key = lambda *o: plan(compose_cfg("generator=openai", *o)).keys["generate"]  # noqa: E731
    chat, completions = key(), key("generator.endpoint=completions")
    assert chat != completions
    assert key("generator.endpoint=completions", "generator.concurrency=2") == completions  # operational
    other = tmp_path / "tok"
    shutil.copytree(tiny_train / "hf", other)
    with_tok = key("generator.endpoint=completions", f"generator.tokenizer={other}")
    assert with_tok != completions
    (other / "tokenizer.json").write_text((other / "tokenizer.json").read_text() + " ", encoding="utf-8")
    assert key("generator.endpoint=completions", f"generator.tokenizer={other}") != with_tok  # by content
    key(f"generator.tokenizer={tmp_path / 'none'}")  # chat mode does not read it
    with pytest.raises(MissingInput, match="generator.tokenizer="):
        key("generator.endpoint=completions", f"generator.tokenizer={tmp_path / 'none'}")
