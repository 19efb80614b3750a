"""An example soulchat plugin: a rewrite prompt (YAML only), a metric set, and a pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry
from soulchat.rewrite.components import PromptConfig


@dataclass
class LengthRatioConfig(ComponentConfig):
    """Mean prediction/reference length ratio, and the share of replies under ``short_below``."""

    short_below: float = 0.5  # a reply shorter than this fraction of its reference counts as short


def register(registry: Registry) -> None:
    # the prompt reuses soulchat's prompt schema and factory; only its template (YAML) is new
    registry.add("prompt", "socratic", PromptConfig, "soulchat.rewrite.prompts:build",
                 doc="Socratic counsellor: guides with open questions, no advice lists")
    registry.add("metric_set", "length_ratio", LengthRatioConfig, "soulchat_example.metrics:build")
    from soulchat_example.stage import DialogueLengthsConfig

    registry.add("stage", "dialogue_lengths", DialogueLengthsConfig, "soulchat_example.stage:STAGE")
    registry.add_config_dir("pkg://soulchat_example.conf")
