"""The base of every stage's config section, and how a schema marks a field operational."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Choice(str, Enum):
    """A config field's fixed set of values (a typo fails when the config is composed). Members are
    named as their values and read as plain strings."""

    def __str__(self) -> str:
        return str(self.value)


def operational(**kwargs: Any) -> Any:
    """A dataclass field that changes how a stage works, not what it outputs (concurrency, timeouts,
    spend guards, where a cache lives): left out of stage cache keys (``soulchat.pipeline``).
    Takes ``field``'s arguments: ``operational(default=8)``."""
    return field(metadata={"operational": True}, **kwargs)


@dataclass
class StageConfig:
    """Fields every stage has."""

    force: bool = operational(default=False)  # recompute this stage even if its output is cached
