"""Train-stage components: Lightning ``strategy`` choices."""

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry


@dataclass
class StrategyConfig(ComponentConfig):
    """A Lightning strategy."""


def register(registry: Registry) -> None:
    registry.add("strategy", "auto", StrategyConfig, "soulchat.train.strategies:build")
