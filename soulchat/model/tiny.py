"""The ``tiny`` model: a small randomly initialised ``GlmForCausalLM`` for CPU runs and tests.

Deterministic for a seed (initialised under a forked RNG), sized by ``conf/model/tiny.yaml``, and
never downloads anything: the config is built in code and the tokenizer is trained locally.
"""

from __future__ import annotations

from typing import Any

from soulchat.errors import ConfigError
from soulchat.model.base import BaseModel


class TinyModel(BaseModel):
    """``model=tiny``."""

    def glm_config(self, tokenizer: Any) -> Any:
        """A GlmConfig whose special ids come from ``tokenizer`` (GLM's defaults are outside it)."""
        from transformers import GlmConfig

        c = self.cfg
        if c.hidden_size % c.num_heads or c.num_heads % c.num_kv_heads:
            raise ConfigError(
                f"model.hidden_size={c.hidden_size} must be divisible by model.num_heads={c.num_heads}, "
                f"and num_heads by model.num_kv_heads={c.num_kv_heads}")
        pad = tokenizer.pad_token_id
        eos = tokenizer.eos_token_id
        if pad is None or eos is None:
            raise ValueError("the tiny model's tokenizer needs a pad and an eos token "
                             f"(got pad_token_id={pad}, eos_token_id={eos})")
        return GlmConfig(
            vocab_size=len(tokenizer),
            hidden_size=c.hidden_size,
            intermediate_size=c.intermediate_size,
            num_hidden_layers=c.num_layers,
            num_attention_heads=c.num_heads,
            num_key_value_heads=c.num_kv_heads,
            head_dim=c.hidden_size // c.num_heads,
            max_position_embeddings=c.max_position_embeddings,
            pad_token_id=pad,
            eos_token_id=eos,
            bos_token_id=tokenizer.bos_token_id,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
        )

    def model(self, tokenizer: Any, seed: int) -> Any:
        import torch
        from transformers import GlmForCausalLM

        config = self.glm_config(tokenizer)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = GlmForCausalLM(config)
        model.generation_config.pad_token_id = config.pad_token_id
        model.generation_config.eos_token_id = config.eos_token_id
        dtype = self.torch_dtype()
        return model.to(torch.float32 if dtype == "auto" else dtype)  # auto: no checkpoint, fp32


def build(cfg: Any) -> TinyModel:
    return TinyModel(cfg)
