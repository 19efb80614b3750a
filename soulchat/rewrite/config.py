"""The rewrite stage's config section."""

from dataclasses import dataclass
from typing import Optional

from soulchat.stage_config import StageConfig, operational


@dataclass
class RewriteConfig(StageConfig):
    """Single-turn Q&A -> multi-turn dialogues through an OpenAI-compatible endpoint."""

    source: str = "${soulchat_data:demo/qa.jsonl}"  # single-turn Q&A (PsyQA layout)
    limit: Optional[int] = None  # rewrite only the first N answers
    concurrency: int = operational(default=32)  # requests in flight (not in the cache key)
    max_attempts: int = 2  # re-ask an invalid rewrite with a new attempt number
