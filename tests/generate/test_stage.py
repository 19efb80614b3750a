"""The generate stage with the real tiny model and with an API model behind the local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from soulchat.generate import stage
from soulchat.generate.hf import length_batches
from soulchat.pipeline import StageContext


def _ctx(cfg, out: Path, inputs: dict) -> StageContext:
    out.mkdir(parents=True, exist_ok=True)
    return StageContext("generate", cfg, out, inputs, "k", out.parent)


def _predictions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_hf_generates_every_sample_and_resumes_identically(root_cfg, tiny_train, corpus_dir, tmp_path):
    inputs = {"corpus": corpus_dir, "train": tiny_train}
    full = tmp_path / "full"
    metrics = stage.run(_ctx(root_cfg, full, inputs))
    preds = _predictions(full)
    assert metrics["samples"] == 5 and len(preds) == 5
    assert {p["id"] for p in preds} == {f"t-{i}#1" for i in range(5)}
    for p in preds:
        assert p["settings"]["top_p"] == 0.75 and p["settings"]["temperature"] == 0.95
        assert p["input"].endswith("心理咨询师：") and p["reference"] and isinstance(p["prediction"], str)
    assert any(p["prediction"] for p in preds)  # a random model still says something

    # an interrupted run: the first batch written, then a torn line; resuming completes it identically
    part = tmp_path / "part"
    part.mkdir()
    first_batch = [p for p in preds if p["id"] in {"t-1#1", "t-3#1"}]  # the two longest inputs
    text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in first_batch) + '{"id": "t-0#1", "pred'
    (part / "predictions.jsonl").write_text(text, encoding="utf-8")
    metrics = stage.run(_ctx(root_cfg, part, inputs))
    assert metrics["generated"] == 3 and metrics["samples"] == 5
    by_id = {p["id"]: p["prediction"] for p in preds}
    assert {p["id"]: p["prediction"] for p in _predictions(part)} == by_id


def test_sampling_runs_with_cudnn_attention_off_and_restores_it(root_cfg, tiny_train, corpus_dir, tmp_path,
                                                                 monkeypatch, cudnn_attention_on):
    """cuDNN's SDPA builds a graph per new length, i.e. per decoding step: off while sampling."""
    import torch

    from soulchat.generate import sampling

    seen, real = [], sampling.decode

    def recording(*args, **kwargs):
        seen.append(torch.backends.cuda.cudnn_sdp_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling, "decode", recording)
    stage.run(_ctx(root_cfg, tmp_path / "off", {"corpus": corpus_dir, "train": tiny_train}))
    assert seen and not any(seen) and torch.backends.cuda.cudnn_sdp_enabled()
    seen.clear()
    on = OmegaConf.merge(root_cfg, {"generator": {"cudnn_attention": True}})
    stage.run(_ctx(on, tmp_path / "on", {"corpus": corpus_dir, "train": tiny_train}))
    assert seen and all(seen)


def test_length_sorted_batches():
    assert length_batches([3, 9, 1, 7, 5], 2) == [[1, 3], [4, 0], [2]]
    assert length_batches([3, 9, 1], 2, sort=False) == [[0, 1], [2]]


def test_external_dialogue_file_any_format(root_cfg, tiny_train, tmp_path):
    src = tmp_path / "smile.jsonl"
    src.write_text(json.dumps({"id": "smile-1", "messages": [
        {"role": "client", "content": "我很难过。"}, {"role": "counselor", "content": "我在这里陪着你。"},
        {"role": "client", "content": "谢谢你。"}, {"role": "counselor", "content": "不客气，愿意多说说吗？"}]},
        ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = OmegaConf.merge(root_cfg, {"generate": {"test_file": str(src)}})
    out = tmp_path / "ext"
    stage.run(_ctx(cfg, out, {"corpus": tmp_path, "train": tiny_train}))
    preds = sorted(_predictions(out), key=lambda p: p["id"])
    assert [p["id"] for p in preds] == ["smile-1#1", "smile-1#3"]
    assert preds[1]["input"] == "用户：我很难过。\n心理咨询师：我在这里陪着你。\n用户：谢谢你。\n心理咨询师："
    assert preds[0]["test_set"] == "smile"


def test_missing_field_in_test_jsonl_is_located(root_cfg, tiny_train, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "test.jsonl").write_text('{"id": "a", "history": []}\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"test.jsonl, line 1, field 'reference'"):
        stage.run(_ctx(root_cfg, tmp_path / "o", {"corpus": tmp_path / "c", "train": tiny_train}))


def test_openai_generator_through_the_local_server(compose_cfg, corpus_dir, tmp_path, monkeypatch):
    from soulchat.testing.llm_server import TestServer

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with TestServer() as server:
        cfg = compose_cfg("generator=openai", f"generator.base_url={server.url}", "generator.recorded=[]",
                          f"generator.store={tmp_path / 'store.sqlite'}", "generator.concurrency=4")
        out = tmp_path / "api"
        metrics = stage.run(_ctx(cfg, out, {"corpus": corpus_dir}))
        assert metrics["samples"] == 5 and server.count() == 5
        body = server.chat_bodies()[0]
        assert body["top_p"] == 0.75 and body["temperature"] == 0.95 and body["messages"][0]["role"] == "user"
        # a second run from scratch answers from the store: nothing is sent again
        stage.run(_ctx(cfg, tmp_path / "api2", {"corpus": corpus_dir}))
        assert server.count() == 5
    preds = _predictions(out)
    assert all(p["prediction"].startswith("我能理解你的感受") for p in preds)
    assert preds[0]["settings"]["generator"] == "openai" and preds[0]["model"] == "gpt-3.5-turbo"


def test_openai_generator_offline_without_recordings_says_how_to_go_live(compose_cfg, corpus_dir, tmp_path):
    from soulchat.llm import StoreMiss

    cfg = compose_cfg("generator=openai", "generator.recorded=[]", f"generator.store={tmp_path / 's.sqlite'}")
    with pytest.raises(StoreMiss, match="generator.base_url=<url>"):
        stage.run(_ctx(cfg, tmp_path / "off", {"corpus": corpus_dir}))


def test_samples_and_subset():
    d = {"id": "d", "messages": [{"role": "assistant", "content": "开场"}, {"role": "user", "content": "u1"},
                                 {"role": "assistant", "content": "a1"}, {"role": "assistant", "content": "a2"},
                                 {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a3"}]}
    samples = stage.samples_from_dialogues([d])
    assert [(s["id"], s["reference"]) for s in samples] == [("d#2", "a1"), ("d#5", "a3")]  # replies after a user
    many = [{"id": str(i)} for i in range(50)]
    pick = stage.subset(many, 10, seed=1)
    assert len(pick) == 10 and pick == stage.subset(many, 10, seed=1) and pick != stage.subset(many, 10, seed=2)
    assert [int(s["id"]) for s in pick] == sorted(int(s["id"]) for s in pick)  # file order kept


def test_generation_inputs_keep_the_history_training_kept(root_cfg, tiny_train, histories):
    """``corpus.max_history_turns`` cuts a generation input exactly as it cut training inputs."""
    from omegaconf import OmegaConf

    from soulchat.corpus.format import encode_input
    from soulchat.registry import build

    cfg = OmegaConf.merge(root_cfg, {"corpus": {"max_history_turns": 0}})
    gen = build("generator", cfg.generator, cfg, tiny_train / "hf")
    long = max(histories, key=len)
    assert len(long) >= 3  # an earlier turn, which max_history_turns=0 drops
    assert gen.encode({"history": long}) == encode_input(gen.tokenizer, long, cfg.corpus.max_input_tokens, 0)
    assert gen.encode({"history": long}) != encode_input(gen.tokenizer, long, cfg.corpus.max_input_tokens)
