"""The corpus stage's config section (``corpus.*``).

Everything that changes the corpus lives here (the reader and the filter chain included), so the
stage's cache key, which hashes ``corpus``, ``topic`` and ``model.tokenizer``, covers all of it.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Optional

from soulchat.stage_config import StageConfig


class SampleMode(str, Enum):
    """How dialogues become training sequences."""

    sample = "sample"  # one sequence per counsellor reply: its history -> the reply (the paper's)
    dialogue = "dialogue"  # one sequence per dialogue, loss on every counsellor reply


#: What to do with a record that cannot be read (``raise`` is a keyword, hence the functional form).
OnError = Enum("OnError", [("raise", "raise"), ("skip", "skip")], type=str, module=__name__)


#: the default cleaning chain, in order (each a registered ``filter``)
DEFAULT_FILTERS = ("format", "length", "turns", "sensitive", "privacy", "dedup")


def default_filters() -> Dict[str, Any]:
    """The default chain, in order; each entry is its filter's schema (typos fail at compose time)."""
    from soulchat.registry import registry

    reg = registry()
    return {name: reg.get("filter", name).schema(name=name) for name in DEFAULT_FILTERS}


@dataclass
class StatsConfig:
    """Corpus statistics and charts (stats.json, topics.png, words.png)."""

    charts: bool = True
    top_words: int = 40  # rows of the counsellor word-frequency table
    wordfreq_utterances: int = 1000  # counsellor utterances segmented with jieba (evenly sampled; 0 = all)


@dataclass
class CorpusConfig(StageConfig):
    """Read, clean and expand dialogues into training samples.

    One command builds a corpus from any file (docs/corpus.md):
    ``python -m soulchat stages=[corpus] corpus.source=/path/to/file [corpus/reader=<reader>]``.
    """

    source: str = "rewrite"  # "rewrite" (the rewrite stage's dialogues.jsonl) or a file / folder path
    # the reader and its options: corpus/reader=<name> (conf/corpus/reader/ or a registered reader,
    # typed by its schema), or name: auto (detected from the file; options go to the readers that have them)
    reader: Any = field(default_factory=lambda: {"name": "auto"})
    on_error: OnError = OnError["raise"]  # raise: stop at the first bad record | skip: record it in rejects.jsonl
    filters: Dict[str, Any] = field(default_factory=default_filters)  # the cleaning chain, in order
    mode: SampleMode = SampleMode.sample
    max_input_tokens: int = 1536  # oldest whole turns dropped to fit, then the newest user message cut (paper: 1,536)
    max_target_tokens: int = 512  # the reply is cut to fit, eos included (paper: 512)
    max_history_turns: Optional[int] = None  # earlier turns (user message + reply) kept in an input; None = all
    val_size: float = 0.05  # < 1: fraction of source groups (questions); >= 1: number of samples (whole groups)
    test_size: float = 0.05  # as val_size (the paper sampled 10,000 test samples)
    split_seed: int = 0  # the split is a hash of (split_seed, source group): stable across runs
    export: list[str] = field(default_factory=list)  # also write export/<reader>/<split>.jsonl (readers that can write their format; a wrong name lists them)
    licence: str = ""  # the source's licence, stated in each export's dataset card (README.md); empty: "not stated"
    stats: StatsConfig = field(default_factory=StatsConfig)
