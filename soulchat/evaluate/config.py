"""The evaluate stage's config section."""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.stage_config import StageConfig


@dataclass
class HumanRatingConfig:
    """Human CEHS rating sheets (soulchat.evaluate.human)."""

    raters: int = 0  # export blinded sheets for this many raters (0: none; the paper had 3)
    samples: int = 100  # contexts per sheet (the paper rated 100 per test set)
    ratings: Optional[str] = None  # a folder with key/key.csv and filled/*.csv to import and report


@dataclass
class EvaluateConfig(StageConfig):
    """Automatic metrics, the CEHS judge (rubric heuristic or LLM), human rating sheets and the report."""

    judge_samples: int = 100  # the judge rates this many (a fixed random subset; the paper rated 100 per test set)
    # the judge also rates the test set's own reference replies for the same contexts (a "reference"
    # row: what the rubric gives the data the model learns from, to read the model's scores against)
    judge_references: bool = True
    extra_metric_sets: list = field(default_factory=lambda: ["diversity", "empathy", "guard"])  # columns besides metric_set
    batch_size: int = 1024  # predictions per metric update
    # predictions.jsonl files of other models / test sets (e.g. an API model's run) scored the same
    # way and added as rows of the report, and to the blinded human sheets
    extra_predictions: list = field(default_factory=list)
    human: HumanRatingConfig = field(default_factory=HumanRatingConfig)
