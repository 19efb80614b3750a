"""Corpus-stage components: ``reader`` formats, ``filter`` rules, ``topic`` classifiers."""

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry


@dataclass
class TopicConfig(ComponentConfig):
    """A topic classifier over the paper's 12 counselling topics."""


def register(registry: Registry) -> None:
    registry.add("topic", "keywords", TopicConfig, "soulchat.corpus.topics:build")
