"""The shapes of the real model families, built without weights (on PyTorch's meta device), so their
memory and throughput can be planned and measured on any machine: ``--shape qwen2_5-7b``.

Sizes are those of the published ``config.json`` files (hidden size, layers, heads, key/value heads,
feed-forward width, vocabulary); a local ``model.path`` is read instead when there is one.
"""

from __future__ import annotations

from typing import Any

#: name -> (transformers config class, its arguments)
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "qwen2_5-0.5b": ("Qwen2Config", dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                         num_key_value_heads=2, intermediate_size=4864, vocab_size=151936,
                                         tie_word_embeddings=True)),
    "qwen2_5-1.5b": ("Qwen2Config", dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
                                         num_key_value_heads=2, intermediate_size=8960, vocab_size=151936,
                                         tie_word_embeddings=True)),
    "qwen2_5-7b": ("Qwen2Config", dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                                       num_key_value_heads=4, intermediate_size=18944, vocab_size=152064)),
    "llama3-8b": ("LlamaConfig", dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                      num_key_value_heads=8, intermediate_size=14336, vocab_size=128256)),
    "glm4-9b": ("GlmConfig", dict(hidden_size=4096, num_hidden_layers=40, num_attention_heads=32,
                                  num_key_value_heads=2, intermediate_size=13696, vocab_size=151552,
                                  head_dim=128)),
    "chatglm3-6b": ("GlmConfig", dict(hidden_size=4096, num_hidden_layers=28, num_attention_heads=32,
                                      num_key_value_heads=2, intermediate_size=13696, vocab_size=65024,
                                      head_dim=128, pad_token_id=0, bos_token_id=1, eos_token_id=2)),
}


def config_of(shape: str) -> Any:
    """The transformers config of a named shape.

    Raises:
        SoulchatError: an unknown shape (the known ones are listed).
    """
    import transformers

    from soulchat.errors import ConfigError

    if shape not in SHAPES:
        raise ConfigError(f"--shape {shape}: unknown; known: {', '.join(SHAPES)}")
    cls, kwargs = SHAPES[shape]
    return getattr(transformers, cls)(**kwargs)


def meta_model(config: Any) -> Any:
    """The causal LM of ``config`` on the meta device: every parameter's shape, no memory."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def count(model: Any, lora_targets: list[str] | None = None, rank: int = 8) -> tuple[int, int]:
    """``(parameters, trainable)``: trainable is every parameter, or LoRA's ``rank x (in + out)`` for
    each linear layer named in ``lora_targets``."""
    import torch

    total = sum(p.numel() for p in model.parameters())
    if lora_targets is None:
        return total, total
    targets = set(lora_targets)
    lora = sum(rank * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets)
    return total, lora


def scaled(config: Any, layers: int | None = None, hidden: int | None = None, vocab: int | None = None) -> Any:
    """A smaller copy of ``config`` with the same architecture: the same class, attention heads and
    key/value heads (so the same grouped-query layout), rotary embedding and tying; ``hidden`` sets
    the head size (``hidden / heads``) and the feed-forward width keeps its ratio to the hidden size.

    Raises:
        ConfigError: ``hidden`` is not a multiple of the attention heads.
    """
    from soulchat.errors import ConfigError

    heads = config.num_attention_heads
    kwargs = config.to_dict()
    if hidden is not None:
        if hidden % heads:
            raise ConfigError(f"--hidden {hidden}: must be a multiple of the {heads} attention heads")
        ratio = hidden / config.hidden_size
        kwargs.update(hidden_size=hidden, head_dim=hidden // heads,
                      intermediate_size=max(1, round(config.intermediate_size * ratio)))
    if layers is not None:
        kwargs.update(num_hidden_layers=layers)
        kwargs.pop("layer_types", None)  # recomputed for the new depth
    if vocab is not None:
        kwargs.update(vocab_size=vocab)
        kwargs.update({k: min(int(kwargs[k]), vocab - 1) for k in ("pad_token_id", "bos_token_id", "eos_token_id")
                       if isinstance(kwargs.get(k), int)})
    return type(config)(**kwargs)
