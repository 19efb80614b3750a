"""Prompt variants: render a Q&A into the rewrite request, parse and check the answer.

A :class:`Prompt` is built from a ``prompt`` config (``conf/prompt/<name>.yaml``); the same object
renders the request (:meth:`Prompt.request`), validates the answer (:meth:`Prompt.validate`, the
LLM client's validator) and, for ``rewrite: false``, turns the Q&A into a one-turn dialogue
(:meth:`Prompt.single_turn_dialogue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from soulchat.io import stable_hash
from soulchat.llm.client import Request
from soulchat.rewrite.parse import parse_dialogue, validate_dialogue


@dataclass(frozen=True)
class QA:
    """One single-turn Q&A to rewrite (one answer of a PsyQA question)."""

    id: str
    question: str  # the question and its description, as the user said them
    answer: str
    topic: str = ""
    group: str = ""  # the question's id: answers of one question stay in one corpus split

    def record_hash(self) -> str:
        return stable_hash({"question": self.question, "answer": self.answer})


@dataclass(frozen=True)
class Prompt:
    """A rendered-prompt factory and answer checker for one ``prompt`` config (immutable, so its
    template hash is computed once)."""

    name: str
    template: str
    single_turn_format: str
    min_utterances: int
    max_utterances: int
    rewrite: bool

    @cached_property
    def template_hash(self) -> str:
        """Hash of everything that shapes the rendered prompt (part of every store key)."""
        return stable_hash({"template": self.template, "single_turn": self.single_turn_format})

    def single_turn(self, qa: QA) -> str:
        return self.single_turn_format.replace("{question}", qa.question).replace("{answer}", qa.answer)

    def render(self, qa: QA) -> str:
        """The prompt text sent for ``qa``."""
        return self.template.replace("{single_turn}", self.single_turn(qa))

    def request(self, qa: QA) -> Request:
        """The LLM request for ``qa``, keyed by template hash and source record hash."""
        return Request(id=qa.id, messages=[{"role": "user", "content": self.render(qa)}],
                       key={"template": self.template_hash, "source": qa.record_hash()})

    def validate(self, text: str, request: Any = None) -> list[dict]:
        """The answer as canonical messages. Raises ``InvalidOutput`` with the broken constraint."""
        return validate_dialogue(parse_dialogue(text), self.min_utterances, self.max_utterances)

    def single_turn_dialogue(self, qa: QA) -> list[dict]:
        return [{"role": "user", "content": qa.question}, {"role": "assistant", "content": qa.answer}]


def build(cfg: Any) -> Prompt:
    """Factory of the ``prompt`` family.

    Raises:
        ValueError: a rewriting prompt whose template lacks ``{single_turn}``.
    """
    if cfg.rewrite and "{single_turn}" not in cfg.template:
        raise ValueError(f"prompt {cfg.name!r}: template must contain {{single_turn}} (where the Q&A goes)")
    return Prompt(str(cfg.name), str(cfg.template), str(cfg.single_turn), int(cfg.min_utterances),
                  int(cfg.max_utterances), bool(cfg.rewrite))
