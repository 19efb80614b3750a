"""What a ``model`` component builds: a tokenizer, a causal LM, and where LoRA goes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from soulchat.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


class BaseModel:
    """A base model family bound to its config.

    Args:
        cfg: the ``model`` config node (:class:`soulchat.model.components.ModelConfig`).
    """

    def __init__(self, cfg: Any):
        self.cfg = cfg

    @property
    def lora_targets(self) -> list[str]:
        """Module names a LoRA adapter wraps (declared per family in ``conf/model/<name>.yaml``)."""
        return list(self.cfg.lora_targets)

    @property
    def trust_remote_code(self) -> bool:
        return bool(self.cfg.get("trust_remote_code", False))

    def tokenizer(self, cache_root: str | Path) -> "PreTrainedTokenizerBase":
        """The tokenizer the corpus stage used (one function for both: ``get_tokenizer``)."""
        from soulchat.model.tokenizer import get_tokenizer

        return get_tokenizer(self.cfg, cache_root)

    def model(self, tokenizer: "PreTrainedTokenizerBase", seed: int) -> "PreTrainedModel":
        """The causal LM in ``model.dtype`` (the loading dtype; the train stage then applies
        :mod:`soulchat.train.precision`)."""
        raise NotImplementedError

    def torch_dtype(self) -> Any:
        import torch

        name = str(self.cfg.get("dtype", "auto"))
        if name == "auto":
            return "auto"
        if name not in _DTYPES:
            raise ConfigError(f"model.dtype={name!r}; valid: auto, {', '.join(_DTYPES)}")
        return getattr(torch, _DTYPES[name])
