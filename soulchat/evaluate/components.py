"""Evaluate-stage components: ``metric_set`` and ``judge``, one row each pointing at its class
(contracts: :mod:`soulchat.evaluate.contracts`)."""

from dataclasses import dataclass, field

from soulchat.evaluate.config import EvaluateConfig
from soulchat.llm.components import EndpointConfig
from soulchat.registry import ComponentConfig, Registry


@dataclass
class MetricSetConfig(ComponentConfig):
    """A set of automatic metrics (a torchmetrics Metric returning dict[str, float], declaring its
    report columns)."""


@dataclass
class RubricConfig(ComponentConfig):
    """The paper's CEHS rubric scored by a transparent heuristic (soulchat/evaluate/rubric.py), live,
    for every reply, on any machine; not an LLM, and every report names it a heuristic."""

    enabled: bool = True
    # dialogue files (JSONL with messages) whose character 4-grams count as fluent: the language the
    # rated models learned (default: the bundled demo dialogues the tiny model is trained on)
    fluency_texts: list = field(default_factory=lambda: ["${soulchat_data:demo/dialogues.jsonl}",
                                                         "${soulchat_data:demo/dialogues_smile.jsonl}"])


@dataclass
class JudgeConfig(EndpointConfig):
    """An LLM judge of the paper's CEHS rubric over the shared OpenAI-compatible client.

    Its own endpoint fields (base_url, model, api_key_env, limits, stores; see ``endpoint``), so
    they are part of the evaluate stage's cache key. Without a base_url only recorded answers are
    used (the bundled ``demo/judge_store.sqlite`` holds answers for the default runs' replies as
    sampled where they were recorded, written by ``scripts/record_demo_judge.py``); a reply without
    one is reported as not rated, never given a score.
    """

    enabled: bool = True
    # read-only stores consulted after ``store``: the bundled recorded ratings (offline default)
    recorded: list = field(default_factory=lambda: ["${soulchat_data:demo/judge_store.sqlite}"])
    model: str = "gpt-4o"
    temperature: float = 0.0  # a judge should be as repeatable as the endpoint allows
    max_tokens: int = 256
    max_attempts: int = 3  # asked again (up to this many times) when the answer is not rubric JSON
    json_mode: bool = True  # send response_format=json_object (false for servers that reject it)
    concurrency: int = 8


def register(registry: Registry) -> None:
    registry.add("stage", "evaluate", EvaluateConfig, "soulchat.evaluate.stage:STAGE")
    m = "soulchat.evaluate.metrics"
    registry.add("metric_set", "paper", MetricSetConfig, f"{m}:Paper",
                 "BLEU-1..4 (chars, NLTK method 3) + ROUGE-1/2/L (jieba, rouge_chinese), sample means")
    registry.add("metric_set", "chatglm", MetricSetConfig, f"{m}:ChatGLM",
                 "ChatGLM-6B p-tuning's bleu-4, rouge-1/2/l exactly (per-sample rounding)")
    registry.add("metric_set", "emollm", MetricSetConfig, f"{m}:EmoLLM",
                 "EmoLLM's BLEU-1..4 on jieba words, NLTK smoothing method 1")
    registry.add("metric_set", "sacrebleu_zh", MetricSetConfig, f"{m}:CorpusBleu", "sacreBLEU corpus BLEU, zh tokenizer")
    registry.add("metric_set", "diversity", MetricSetConfig, f"{m}:Diversity",
                 "Distinct-1/2 on chars and words, mean reply length")
    registry.add("metric_set", "empathy", MetricSetConfig, f"{m}:EmpathyRates",
                 "rates of the paper's empathy expressions, questions and advice lists (lexicon)")
    registry.add("judge", "rubric", RubricConfig, "soulchat.evaluate.rubric:RubricJudge",
                 "the CEHS rubric by a documented heuristic, every reply, offline (the default; not an LLM)")
    registry.add("judge", "cehs", JudgeConfig, "soulchat.evaluate.judge:CEHSJudge",
                 "an LLM judge of the CEHS rubric (endpoint, store, re-ask; offline: recorded answers only)")
