"""The base of every stage's config section."""

from dataclasses import dataclass


@dataclass
class StageConfig:
    """Fields every stage has. ``force`` is not part of the stage's cache key."""

    force: bool = False  # recompute this stage even if its output is cached
