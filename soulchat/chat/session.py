"""A conversation with the model behind the guard (the terminal chat's; the server's is stateless).

Each user message is screened before the model sees it (a hit answers with the guard's crisis
response, the model is not asked; a concern, the learned screen's tier, lets the model answer and
adds the guard's note after the reply); each reply is screened after it is generated, read after the
conversation before it (a hit replaces it with the crisis response). The history keeps what the user
saw and is encoded exactly as training saw it (:meth:`soulchat.chat.engine.Engine.encode`); crisis answers are marked ``"guard"`` in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from soulchat.guard import concern_note
from soulchat.io import write_json


def screen_message(guard: Any, text: str, history: list[dict]) -> tuple[Any, str | None]:
    """``(verdict, words)`` for the user's ``text``: the crisis response when flagged (said instead of
    the model), the concern note when a concern (said after the model's reply), else None."""
    verdict = guard.screen_user(text, history=tuple(history))
    return verdict, guard.response(verdict) if verdict.flagged else concern_note(guard, verdict)


def unsafe_reply(guard: Any, reply: str, history: Sequence[dict] = ()) -> tuple[str, Any] | None:
    """``(crisis response, verdict)`` when the guard flags the model's ``reply`` read after ``history``
    (the messages before it, ending with the user's), else None."""
    verdict = guard.screen_reply(reply, history=tuple(history))
    return (guard.response(verdict), verdict) if verdict.flagged else None


class Conversation:
    """History, guard and engine for one person.

    Args:
        engine: a :class:`soulchat.chat.engine.Engine`.
        guard: a ``guard`` component (``screen_user``, ``screen_reply``, ``response``).
        sampling: a :class:`soulchat.chat.engine.Sampling` (the paper's by default).
    """

    def __init__(self, engine: Any, guard: Any, sampling: Any):
        self.engine, self.guard, self.sampling = engine, guard, sampling
        self.messages: list[dict] = []

    def reset(self) -> None:
        self.messages = []

    def save(self, path: str | Path, **meta: Any) -> Path:
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**meta, "messages": self.messages})
        return path

    def say(self, text: str, emit: Callable[[str, str], None]) -> str:
        """Answer ``text``: ``emit("reply", "")`` when the model starts, ``emit("token", piece)`` as the
        reply is sampled, ``emit("crisis", response)`` for a flagged message or reply, ``emit("note",
        text)`` after the reply to a concern. Returns the answer kept in the history.

        Raises:
            RuntimeError: sampling failed; KeyboardInterrupt: interrupted. Either way the message
                stays out of the history.
        """
        from soulchat.chat.stream import TextPieces

        verdict, words = screen_message(self.guard, text, self.messages)
        self.messages.append({"role": "user", "content": text})
        if verdict.flagged:
            return self._crisis((words, verdict), emit)
        parts: list[str] = []

        def echo(piece: str, ended: bool) -> None:  # printed in this thread as it is sampled
            if piece:
                parts.append(piece)
                emit("token", piece)

        emit("reply", "")
        try:
            job = self.engine.generate(self.engine.encode(self.messages), self.sampling,
                                       TextPieces(self.engine.tokenizer, echo))
        except BaseException as exc:
            self.messages.pop()
            if isinstance(exc, Exception):
                raise RuntimeError(f"the model failed to answer: {type(exc).__name__}: {exc}") from exc
            raise
        reply = "".join(parts).strip()
        hit = unsafe_reply(self.guard, reply, self.messages) if job.finish_reason in ("stop", "length") else None
        if hit is not None:
            return self._crisis(hit, emit)
        if words:  # a concern: the note follows the reply; the model's history keeps its own words
            emit("note", "\n\n" + words)
            self.messages.append({"role": "assistant", "content": reply, "note": words})
            return reply
        self.messages.append({"role": "assistant", "content": reply})
        return reply

    def _crisis(self, hit: tuple[str, Any], emit: Callable[[str, str], None]) -> str:
        self.messages.append({"role": "assistant", "content": hit[0], "guard": hit[1].category})
        emit("crisis", hit[0])
        return hit[0]
