"""Generate-stage components: ``generator`` (hf, openai).

A generator factory is ``factory(cfg, ctx_cfg, model_dir) -> generator`` where ``ctx_cfg`` is the
whole composed config and ``model_dir`` the train stage's ``hf/`` folder (None when
``uses_trained_model`` is false). A generator has ``settings() -> dict`` (recorded with every
prediction) and ``generate(samples, done) -> Iterator[list[(sample, reply)]]``, yielding finished
batches so the stage writes them as they come (``done``: ids already written, skipped).
"""

from dataclasses import dataclass
from typing import Optional

from soulchat.generate.config import GenerateConfig
from soulchat.llm.components import EndpointConfig
from soulchat.model.components import DType
from soulchat.registry import ComponentConfig, Registry
from soulchat.stage_config import Choice, operational


@dataclass
class GeneratorConfig(ComponentConfig):
    """Produces counsellor replies for test inputs."""

    uses_trained_model: bool = True  # false for an API model: the train stage is not needed


@dataclass
class HFGeneratorConfig(GeneratorConfig):
    """The fine-tuned model (train stage's ``hf/``): batched sampling with the KV cache.

    Sampling (top-p, temperature, max new tokens, batch size) is ``generate.*``; inputs are encoded
    exactly as in training (``soulchat.corpus.format.encode_input`` with ``corpus.max_input_tokens``).
    """

    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:1 ...
    dtype: DType = DType.auto  # auto (bf16 on a GPU that has it, else fp32) | float32 | bfloat16 | float16
    sort_by_length: bool = True  # length-sorted batches: less padding
    cudnn_attention: bool = False  # cuDNN's SDPA builds a graph per new length: every decoding step


class ApiEndpoint(Choice):
    """Which OpenAI API ``generator=openai`` calls."""

    chat = "chat"  # POST /chat/completions: the history as messages, the server's chat template renders it
    completions = "completions"  # POST /completions: the paper's prompt rendered as in training (no chat template needed)


@dataclass
class OpenAIGeneratorConfig(EndpointConfig):
    """An API model (the paper's ChatGPT row; a vLLM server for scale) through soulchat.llm.

    The endpoint fields are the same as the ``endpoint`` group's (base_url, model, api_key_env,
    limits, spend guards, stores); temperature / top_p / max_tokens are taken from ``generate.*``.
    Offline by default (no base_url): only recorded answers are used.
    """

    uses_trained_model: bool = False
    endpoint: ApiEndpoint = ApiEndpoint.chat  # chat | completions (soulchat/generate/openai.py)
    tokenizer: Optional[str] = None  # completions: the served model's tokenizer folder; None: model's (the corpus's)
    system_prompt: Optional[str] = None  # chat: prepended as a system message when set
    concurrency: int = operational(default=16)  # requests in flight: not what the replies are


def register(registry: Registry) -> None:
    registry.add("stage", "generate", GenerateConfig, "soulchat.generate.stage:STAGE")
    registry.add("generator", "hf", HFGeneratorConfig, "soulchat.generate.hf:build")
    registry.add("generator", "openai", OpenAIGeneratorConfig, "soulchat.generate.openai:build")
