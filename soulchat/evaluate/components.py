"""Evaluate-stage components: ``metric_set`` and ``judge``."""

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry


@dataclass
class MetricSetConfig(ComponentConfig):
    """A set of automatic metrics."""


@dataclass
class JudgeConfig(ComponentConfig):
    """An LLM judge of the paper's CEHS rubric."""

    enabled: bool = True


def register(registry: Registry) -> None:
    registry.add("metric_set", "paper", MetricSetConfig, "soulchat.evaluate.metrics:paper")
    registry.add("judge", "cehs", JudgeConfig, "soulchat.evaluate.judge:build")
