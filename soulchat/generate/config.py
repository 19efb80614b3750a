"""The generate stage's config section."""

from dataclasses import dataclass
from typing import Optional

from soulchat.stage_config import StageConfig


@dataclass
class GenerateConfig(StageConfig):
    """Reply generation on the test split (or an external dialogue file)."""

    test_file: Optional[str] = None  # an external dialogue file instead of the corpus test split
    max_samples: Optional[int] = None
    max_new_tokens: int = 512
    top_p: float = 0.75
    temperature: float = 0.95
    batch_size: int = 16
