"""The evaluate stage's config section."""

from dataclasses import dataclass

from soulchat.stage_config import StageConfig


@dataclass
class EvaluateConfig(StageConfig):
    """Automatic metrics, the LLM judge and the report."""

    judge_samples: int = 100  # the paper rated 100 samples per test set
