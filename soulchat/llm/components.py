"""LLM client components: ``endpoint`` settings for any OpenAI-compatible API.

Options (``conf/endpoint/``):

- ``recorded`` (the default): offline; every answer comes from the response stores. A request that
  is not stored is an error that says how to switch to a live endpoint.
- ``openai``: any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, Ollama) at ``base_url``.

Both share one schema so that a recorded answer and a live one have the same store key: the key
hashes ``model``, the sampling parameters (``temperature``, ``top_p``, ``max_tokens``), the caller's
key parts and the attempt number; never ``base_url`` or the key.
"""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.registry import ComponentConfig, Registry
from soulchat.stage_config import operational


@dataclass
class EndpointConfig(ComponentConfig):
    """An OpenAI-compatible endpoint. The key is read only from the env var ``api_key_env``.
    Transport, spend guards and the store's place are operational: they are not in stage keys."""

    base_url: Optional[str] = None  # None: offline, answers come only from the stores
    model: str = "gpt-3.5-turbo"
    api_key_env: str = operational(default="OPENAI_API_KEY")  # the NAME of the env var holding the key, never the key
    # sampling parameters (part of every store key)
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 2048
    # transport
    timeout_s: float = operational(default=120.0)  # per request
    max_retries: int = operational(default=6)  # on 429, 5xx, timeouts and dropped connections
    backoff_s: float = operational(default=1.0)  # first retry delay; doubles each retry, with jitter; Retry-After wins
    max_backoff_s: float = operational(default=60.0)
    rpm: Optional[int] = operational(default=None)  # requests per minute (None: unlimited)
    tpm: Optional[int] = operational(default=None)  # tokens per minute, prompt + max_tokens estimated, then corrected
    # spend guards: hard caps on what is sent (retries and in-flight bounds included), per job in rewrite
    max_requests: Optional[int] = operational(default=None)  # network requests (store hits are free)
    max_total_tokens: Optional[int] = operational(default=None)
    max_cost: Optional[float] = operational(default=None)  # in the currency of prices_per_1k
    prices_per_1k: dict = operational(default_factory=lambda: {"input": 0.0005, "output": 0.0015})
    # stores: answers are written to `store`; `recorded` stores are read-only and consulted after it
    store: str = operational(default="${paths.cache}/llm/responses.sqlite")
    recorded: list = field(default_factory=lambda: ["${soulchat_data:demo/rewrite_store.sqlite}"])


def register(registry: Registry) -> None:
    registry.add("endpoint", "recorded", EndpointConfig, "soulchat.llm.client:LLMClient",
                 doc="offline: answers only from the response stores (the bundled recordings)")
    registry.add("endpoint", "openai", EndpointConfig, "soulchat.llm.client:LLMClient",
                 doc="any OpenAI-compatible API at endpoint.base_url; key from $endpoint.api_key_env")
