"""The ``guard`` family: screens a user's message and a model's reply for crises.

A guard sits in front of the model (``soulchat chat``, ``soulchat serve``) and in ``evaluate`` (the
``guard`` metric set). Build the configured one with ``soulchat.registry.build("guard", cfg.guard)``;
every guard satisfies :class:`Guard`. The default, ``crisis`` (:mod:`soulchat.guard.crisis`), is a
transparent rule set documented in docs/guard.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence, runtime_checkable

#: what a flagged verdict may say; the first four come from the user, the last from the model
CATEGORIES = ("suicide", "self_harm", "harm_others", "abuse", "unsafe_reply")


@dataclass(frozen=True)
class Verdict:
    """The result of one screening.

    Attributes:
        flagged: the caller must answer with :meth:`Guard.response` instead of (or before) the model.
        category: one of :data:`CATEGORIES` when flagged, else None.
        reason: a short code (``suicide.intent``, ``idiom``, ``other_person``, ...); never the text.
    """

    flagged: bool
    category: Optional[str] = None
    reason: str = "clear"

    def __post_init__(self) -> None:
        if self.flagged and self.category not in CATEGORIES:
            raise ValueError(f"flagged verdict needs a category in {CATEGORIES}, got {self.category!r}")
        if not self.flagged and self.category is not None:
            raise ValueError("a verdict that is not flagged has no category")


CLEAR = Verdict(False, None, "clear")


@runtime_checkable
class Guard(Protocol):
    """The contract of a ``guard`` component (``factory(cfg) -> Guard``)."""

    def screen_user(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        """Screen a user message; ``history`` is the earlier OpenAI-style messages (role, content)."""
        ...

    def screen_reply(self, text: str) -> Verdict:
        """Screen a model reply for unsafe content (category ``unsafe_reply``)."""
        ...

    def response(self, verdict: Verdict) -> str:
        """The configured crisis answer for a flagged verdict."""
        ...


__all__ = ["CATEGORIES", "CLEAR", "Guard", "Verdict"]
