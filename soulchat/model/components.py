"""Model components: ``model`` (base models), ``finetune`` (full, lora)."""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.registry import ComponentConfig, Registry


@dataclass
class TokenizerConfig:
    """Where the tokenizer comes from: trained locally on the bundled data, or the model's path."""

    vocab_size: int = 4000
    path: Optional[str] = None


@dataclass
class ModelConfig(ComponentConfig):
    """A base causal LM."""

    path: Optional[str] = None
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)


@dataclass
class FinetuneConfig(ComponentConfig):
    """How the base model is fine-tuned."""


def register(registry: Registry) -> None:
    registry.add("model", "tiny", ModelConfig, "soulchat.model.tiny:build")
    registry.add("finetune", "full", FinetuneConfig, "soulchat.model.finetune:full")
