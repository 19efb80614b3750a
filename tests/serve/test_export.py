"""The train stage's ``hf/`` folder is servable: a chat template giving exactly what training saw, the
paper's sampling, the input budget, a model card with its run's metrics; a LoRA run keeps its adapter."""

from __future__ import annotations

import json

import pytest

from soulchat.chat.config import DISCLOSURE, disclosure_text
from soulchat.corpus.format import encode_input, render_input
from soulchat.guard.components import HOTLINES

HISTORIES = [
    [{"role": "user", "content": "我最近总是失眠，心里很烦。"}],
    [{"role": "system", "content": "你是一位心理咨询师。"},
     {"role": "user", "content": "我和男朋友异地恋，最近总吵架。"},
     {"role": "assistant", "content": "听起来你们的沟通遇到了困难，能说说吵架的原因吗？"},
     {"role": "user", "content": "他总说我不理解他，我也很委屈。\n我不知道怎么办。"}],
]


def test_chat_template_renders_what_training_saw(trained):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(trained["hf"])
    for history in HISTORIES:
        spoken = [m for m in history if m["role"] != "system"]  # training never saw a system message
        text = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=False)
        assert text == render_input(spoken)
        ids = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=True)["input_ids"]
        assert list(ids) == encode_input(tok, spoken)
    assert not tok.apply_chat_template(HISTORIES[0], tokenize=False).endswith("心理咨询师：")
    with pytest.raises(Exception, match="role must be"):
        tok.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_generation_config_budget_and_card(trained):
    from transformers import GenerationConfig

    hf = trained["hf"]
    gen = GenerationConfig.from_pretrained(hf)
    assert gen.do_sample and gen.top_p == 0.75 and gen.temperature == 0.95 and gen.top_k == 50
    assert gen.max_new_tokens == 64  # the tiny scale's training target length
    budget = json.loads((hf / "soulchat_format.json").read_text(encoding="utf-8"))
    assert budget["max_input_tokens"] == 256 and budget["max_history_turns"] is None
    card = (hf / "README.md").read_text(encoding="utf-8")
    metrics = json.loads((hf.parent / "metrics.json").read_text(encoding="utf-8"))
    for section in ("## Base model", "## Data", "## Recipe", "## Metrics of its run", "## Intended use",
                    "## AI disclosure", "## Limits"):
        assert section in card
    assert f"| validation loss (target tokens) | {metrics['val_loss']:.4g} |" in card  # this run's figure
    assert "40 steps" in card and disclosure_text(DISCLOSURE, HOTLINES) in card and "自杀" in card


@pytest.mark.slow
def test_lora_run_saves_a_peft_adapter_beside_the_merged_model(trained, compose):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from soulchat import pipeline
    from soulchat.registry import build

    cfg = compose([f"paths.outputs={trained['outputs']}", "tracking.enabled=false", "finetune=lora",
                   "train.max_steps=3", "train.warmup_steps=1", "train.val_every_n_steps=3",
                   "train.checkpoint_every_n_steps=3", "train.val_max_samples=8", "train.lr=1e-2"])
    plan = pipeline.plan(cfg)
    for name in pipeline.needed(["train"], cfg):  # the shared corpus is reused (computed if its key moved)
        res = pipeline.run_stage(name, cfg, plan, trained["outputs"] / "lora-run", selected=name == "train")
    adapter = res.path / "adapter"
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    assert "LoRA r=8" in (res.path / "hf" / "README.md").read_text(encoding="utf-8")

    builder = build("model", cfg.model)
    tok = builder.tokenizer(cfg.paths.cache)
    base = builder.model(tok, int(cfg.seed))  # the same initialisation the run started from
    with_adapter = PeftModel.from_pretrained(base, adapter).eval()
    merged = AutoModelForCausalLM.from_pretrained(res.path / "hf").eval()
    ids = torch.tensor([encode_input(tok, HISTORIES[1][1:])])
    with torch.no_grad():
        a, b = with_adapter(input_ids=ids).logits, merged(input_ids=ids).logits
        plain = builder.model(tok, int(cfg.seed))(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, plain, atol=1e-4)  # the adapter changed something
