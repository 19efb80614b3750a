"""Model components: the tiny GLM, real families from a local folder, full and LoRA fine-tuning."""

import json

import pytest
import torch

from soulchat.registry import build


@pytest.fixture
def tiny(compose, outputs):
    cfg = compose(["model.hidden_size=64", "model.intermediate_size=128"])
    builder = build("model", cfg.model)
    return cfg, builder, builder.tokenizer(cfg.paths.cache)


def test_tiny_is_small_deterministic_and_uses_tokenizer_ids(tiny):
    cfg, builder, tok = tiny
    a, b, c = builder.model(tok, 1), builder.model(tok, 1), builder.model(tok, 2)
    assert type(a).__name__ == "GlmForCausalLM"
    n = sum(p.numel() for p in a.parameters())
    assert 100_000 < n < 5_000_000
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    assert a.config.vocab_size == len(tok)
    assert a.config.pad_token_id == tok.pad_token_id < len(tok)
    assert a.config.eos_token_id == tok.eos_token_id


def test_tiny_rejects_bad_head_split(compose, outputs):
    cfg = compose(["model.hidden_size=66"])
    builder = build("model", cfg.model)
    with pytest.raises(ValueError, match="divisible"):
        builder.glm_config(builder.tokenizer(cfg.paths.cache))


@pytest.mark.parametrize("name", ["chatglm3", "glm4", "qwen2_5", "llama3"])
def test_real_model_without_path_says_what_to_pass(compose, outputs, monkeypatch, name):
    monkeypatch.delenv(f"SOULCHAT_{name.upper()}_PATH", raising=False)
    cfg = compose([f"model={name}"])
    assert cfg.model.lora_targets
    with pytest.raises(FileNotFoundError, match=f"model.path=/path/to/{name}"):
        build("model", cfg.model)


def test_wrong_folder_fails_at_once(compose, outputs, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build("model", compose(["model=glm4", f"model.path={tmp_path / 'nope'}"]).model)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="model_type='llama'"):
        build("model", compose(["model=qwen2_5", f"model.path={tmp_path}"]).model)


def test_local_qwen2_folder_loads_with_its_tokenizer(compose, outputs, tiny, tmp_path):
    """A real-family folder (a tiny random Qwen2 saved locally) loads through model=qwen2_5."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    _, _, tok = tiny
    cfg_q = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=1, pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id)
    Qwen2ForCausalLM(cfg_q).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    cfg = compose(["model=qwen2_5", f"model.path={tmp_path}", "model.dtype=float32", "finetune=lora"])
    builder = build("model", cfg.model)
    model = builder.model(builder.tokenizer(cfg.paths.cache), 0)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    peft_model = build("finetune", cfg.finetune, model, builder.lora_targets)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert any("q_proj" in n for n in names)


def test_lora_trains_adapters_only_and_merges(compose, outputs, tiny):
    from soulchat.model.finetune import merged, trainable_parameters

    cfg, builder, tok = tiny
    lcfg = compose(["finetune=lora"]).finetune
    assert (lcfg.r, lcfg.alpha, lcfg.dropout) == (8, 32, 0.1)
    model = build("finetune", lcfg, builder.model(tok, 0), builder.lora_targets)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < total / 5
    # move the adapters off zero so merging changes the base weights
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    model.eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    want = model(input_ids=ids).logits
    plain = merged(model)
    assert not any("lora" in n for n, _ in plain.named_parameters())
    assert torch.allclose(plain(input_ids=ids).logits, want, atol=1e-5)


def test_lora_needs_existing_targets(compose, outputs, tiny):
    cfg, builder, tok = tiny
    lcfg = compose(["finetune=lora", "finetune.target_modules=[nope]"]).finetune
    with pytest.raises(ValueError, match="none of the target modules"):
        build("finetune", lcfg, builder.model(tok, 0), builder.lora_targets)
