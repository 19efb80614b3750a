"""Model components: ``model`` (base causal LMs) and ``finetune`` (full, lora).

Schemas and factory strings only; nothing heavy is imported here. A ``model`` factory returns a
:class:`soulchat.model.base.BaseModel` (tokenizer, causal LM, LoRA target modules); a ``finetune``
factory wraps a built model into the trainable one (:mod:`soulchat.model.finetune`).
"""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.registry import ComponentConfig, Registry
from soulchat.stage_config import Choice


class DType(Choice):
    """A weights dtype; ``auto``: the checkpoint's (loading) or bf16 where the GPU has it (sampling)."""

    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


@dataclass
class TokenizerConfig:
    """Where the tokenizer comes from: trained locally on the bundled data, or the model's path."""

    vocab_size: int = 4000  # tiny model only: size of the locally trained tokenizer
    path: Optional[str] = None  # a local tokenizer folder; default: the model's path (real models)


@dataclass
class ModelConfig(ComponentConfig):
    """A base causal LM loaded from a local Hugging Face folder (``model.path``)."""

    family: str = ""  # the family a YAML option names (qwen2_5, chatglm3, ...), for messages and cards
    path: Optional[str] = None  # local folder with config.json and weights; never a hub id
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    trust_remote_code: bool = False  # true for families that ship their modelling code (chatglm3)
    model_types: list[str] = field(default_factory=list)  # accepted config.json model_type values
    lora_targets: list[str] = field(default_factory=list)  # module names LoRA adapts
    dtype: DType = DType.auto  # weights dtype when loading: auto | float32 | bfloat16 | float16


@dataclass
class TinyModelConfig(ModelConfig):
    """A small randomly initialised GLM (``GlmForCausalLM``) for the CPU; never downloads."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    max_position_embeddings: int = 4096  # the benchmark pads to 2,048 like the paper
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    dtype: DType = DType.float32


@dataclass
class FinetuneConfig(ComponentConfig):
    """Full fine-tuning: every weight is trained."""


@dataclass
class LoraConfig(FinetuneConfig):
    """LoRA (peft) on the model's declared target modules; defaults are MeChat's baseline."""

    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    target_modules: Optional[list[str]] = None  # default: the model's ``lora_targets``


def family(model_cfg: object) -> str:
    """The model's name for messages, cards and MLflow: a YAML option's ``family`` (``qwen2_5``),
    else its component name (``tiny``)."""
    return model_cfg.get("family") or model_cfg.name  # type: ignore[attr-defined]


def register(registry: Registry) -> None:
    registry.add("model", "tiny", TinyModelConfig, "soulchat.model.tiny:build")
    # one component for every Hugging Face folder; a family is a YAML (conf/model/qwen2_5.yaml:
    # defaults [/schema/model/pretrained@_here_], its family, model_types, lora_targets, ...)
    registry.add("model", "pretrained", ModelConfig, "soulchat.model.pretrained:build",
                 doc="a causal LM from a local Hugging Face folder (model.path=...)")
    registry.add("finetune", "full", FinetuneConfig, "soulchat.model.finetune:full")
    registry.add("finetune", "lora", LoraConfig, "soulchat.model.finetune:lora")
