"""Evaluate-stage components: ``metric_set`` and ``judge``."""

from dataclasses import dataclass
from typing import Optional

from soulchat.registry import ComponentConfig, Registry


@dataclass
class MetricSetConfig(ComponentConfig):
    """A set of automatic metrics (a torchmetrics Metric returning dict[str, float])."""


@dataclass
class JudgeConfig(ComponentConfig):
    """An LLM judge of the paper's CEHS rubric over the shared OpenAI-compatible client.

    The endpoint is the root ``endpoint`` group (``endpoint=recorded`` is offline: only answers
    already in the store are used; without them the judge reports itself skipped).
    """

    enabled: bool = True
    samples: Optional[int] = None  # rate the first N predictions (None: evaluate.judge_samples)
    max_attempts: int = 3  # re-ask this many times when the answer is not valid rubric JSON
    temperature: float = 0.0


METRIC_SETS = {
    "paper": "BLEU-1..4 (chars, NLTK method 3) + ROUGE-1/2/L (jieba, rouge_chinese), sample means",
    "chatglm": "ChatGLM-6B p-tuning's bleu-4, rouge-1/2/l exactly (per-sample rounding)",
    "emollm": "EmoLLM's BLEU-1..4 on jieba words, NLTK smoothing method 1",
    "sacrebleu_zh": "sacreBLEU corpus BLEU, zh tokenizer",
    "diversity": "Distinct-1/2 on chars and words, mean reply length",
    "empathy": "rates of the paper's empathy expressions, questions and advice lists (lexicon)",
}


def register(registry: Registry) -> None:
    for name, doc in METRIC_SETS.items():
        factory = "empathy_rates" if name == "empathy" else name
        registry.add("metric_set", name, MetricSetConfig, f"soulchat.evaluate.metrics:{factory}", doc)
    registry.add("judge", "cehs", JudgeConfig, "soulchat.evaluate.judge:build")
