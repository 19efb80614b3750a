"""The built-in plugin: registers soulchat's own components through the ``soulchat.plugins``
entry point, exactly as a third-party plugin does. Each area keeps its registrations in its own
``components.py`` (schemas and ``"module:factory"`` strings only; nothing heavy is imported)."""

from __future__ import annotations

import importlib

from soulchat.registry import Registry

AREAS = ("rewrite", "llm", "corpus", "model", "train", "generate", "evaluate", "guard")


def register(registry: Registry) -> None:
    for area in AREAS:
        importlib.import_module(f"soulchat.{area}.components").register(registry)
