"""The corpus stage's config section."""

from dataclasses import dataclass

from soulchat.stage_config import StageConfig


@dataclass
class CorpusConfig(StageConfig):
    """Read, clean and expand dialogues into training samples."""

    source: str = "rewrite"  # "rewrite" (the rewrite stage's output) or a path to a dialogue file
    format: str = "auto"  # reader name; auto = detect
    on_error: str = "raise"  # raise | skip (bad records go to rejects.jsonl)
    mode: str = "sample"  # sample: one sample per counsellor reply | dialogue: one per dialogue
    max_input_tokens: int = 1536
    max_target_tokens: int = 512
    val_size: float = 0.05
    test_size: float = 0.05
