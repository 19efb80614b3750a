"""The generate stage's config section."""

from dataclasses import dataclass
from typing import Optional

from soulchat.stage_config import StageConfig


@dataclass
class GenerateConfig(StageConfig):
    """Reply generation on the test split (or an external dialogue file)."""

    test_file: Optional[str] = None  # any dialogue file a corpus reader knows, instead of corpus test.jsonl
    test_format: str = "auto"  # reader for test_file (auto: detected)
    test_name: Optional[str] = None  # the test set's name in the report (default: corpus / the file's stem)
    max_samples: Optional[int] = None  # a fixed random subset (by id hash and seed); None: all
    log_samples: int = 20  # this many predictions (input, reference, prediction) go to MLflow to read
    max_new_tokens: int = 512
    top_p: float = 0.75  # the paper's sampling
    temperature: float = 0.95
    top_k: int = 50  # Hugging Face's default, which ChatGLM-6B's chat() kept; 0 = top-p only
    batch_size: int = 16  # rows per generate call (hf); requests in flight (openai: generator.concurrency)
