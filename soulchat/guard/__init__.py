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
        category: one of :data:`CATEGORIES` when flagged or a concern, else None.
        reason: a short code (``suicide.intent``, ``idiom``, ``other_person``, ...); never the text.
        concern: not flagged, but a screen saw a possible crisis: the model answers and the caller adds
            the guard's ``note(verdict)`` (a hotline note) to its reply; see :func:`concern_note`.
    """

    flagged: bool
    category: Optional[str] = None
    reason: str = "clear"
    concern: bool = False

    def __post_init__(self) -> None:
        if (self.flagged or self.concern) and self.category not in CATEGORIES:
            raise ValueError(f"a flagged or concern verdict needs a category in {CATEGORIES}, got {self.category!r}")
        if self.flagged and self.concern:
            raise ValueError("a verdict is flagged (the guard answers) or a concern (the model answers), not both")
        if not (self.flagged or self.concern) and self.category is not None:
            raise ValueError("a verdict that is neither flagged nor a concern has no category")


CLEAR = Verdict(False, None, "clear")


def concern_note(guard: object, verdict: Verdict) -> Optional[str]:
    """The note to add to the model's reply for a concern verdict (a guard's ``note``), else None."""
    note = getattr(guard, "note", None)
    return note(verdict) if verdict.concern and callable(note) else None


@runtime_checkable
class Guard(Protocol):
    """The contract of a ``guard`` component (``factory(cfg) -> Guard``)."""

    def screen_user(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        """Screen a user message; ``history`` is the earlier OpenAI-style messages (role, content)."""
        ...

    def screen_reply(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        """Screen a model reply for unsafe content (category ``unsafe_reply``); ``history`` is the
        messages before it, ending with the user's: a reply can be unsafe only after what they said
        (docs/guard.md, "Replies in their conversation")."""
        ...

    def response(self, verdict: Verdict) -> str:
        """The configured crisis answer for a flagged verdict."""
        ...


__all__ = ["CATEGORIES", "CLEAR", "Guard", "Verdict", "concern_note"]
