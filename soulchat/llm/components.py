"""LLM client components: ``endpoint`` settings for any OpenAI-compatible API."""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.registry import ComponentConfig, Registry


@dataclass
class EndpointConfig(ComponentConfig):
    """An OpenAI-compatible endpoint. The key is read only from the env var ``api_key_env``."""

    base_url: Optional[str] = None  # None: offline, answers come only from the recorded store
    model: str = "gpt-3.5-turbo"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 2048
    timeout_s: float = 120.0
    prices_per_1k: dict = field(default_factory=lambda: {"input": 0.0005, "output": 0.0015})


def register(registry: Registry) -> None:
    registry.add("endpoint", "recorded", EndpointConfig, None)
    registry.add("endpoint", "openai", EndpointConfig, None)
