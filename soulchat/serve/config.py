"""The ``serve`` section: ``soulchat serve``'s address, key and limits (docs/serve.md)."""

from dataclasses import dataclass
from typing import Optional


@dataclass
class ServeConfig:
    """An OpenAI-compatible server of ``chat.model`` with a web page at ``/``.

    ``soulchat serve [MODEL] serve.port=8000``; the key, when wanted, only from the environment.
    """

    host: str = "127.0.0.1"  # 0.0.0.0 to accept other machines (then set a key)
    port: int = 8000  # 0: any free port (printed)
    model_name: str = "soulchat"  # the id /v1/models lists and requests name
    api_key_env: Optional[str] = "SOULCHAT_API_KEY"  # NAME of the env var; when it is set, requests need that bearer key
    max_body_bytes: int = 262144  # larger request bodies get 413
    max_messages: int = 64  # more messages in one request get 400
    max_tokens: int = 1024  # a request's max_tokens above this gets 400; unset: generate.max_new_tokens
    max_batch_size: int = 16  # requests sampled together (more wait for the next batch)
