"""A conversation with the model behind the guard (the terminal chat's; the server's is stateless).

Each user message is screened before the model sees it (a hit answers with the guard's crisis
response, the model is not asked); each reply is screened after it is generated (a hit replaces it
with the crisis response). The history keeps what the user saw and is encoded exactly as training
saw it (:meth:`soulchat.chat.engine.Engine.encode`); crisis answers are marked ``"guard"`` in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from soulchat.io import write_json


def crisis_reply(guard: Any, text: str, history: list[dict]) -> tuple[str, Any] | None:
    """``(crisis response, verdict)`` when the guard flags the user's ``text``, else None."""
    verdict = guard.screen_user(text, history=tuple(history))
    return (guard.response(verdict), verdict) if verdict.flagged else None


def unsafe_reply(guard: Any, reply: str) -> tuple[str, Any] | None:
    """``(crisis response, verdict)`` when the guard flags the model's ``reply``, else None."""
    verdict = guard.screen_reply(reply)
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

    def say(self, text: str) -> Iterator[tuple[str, str]]:
        """Yield ``("token", piece)`` as the reply streams, or ``("crisis", response)`` for a flagged
        message or reply.

        Raises:
            RuntimeError: sampling failed (the message stays unanswered in the history).
        """
        from transformers import TextIteratorStreamer

        hit = crisis_reply(self.guard, text, self.messages)
        self.messages.append({"role": "user", "content": text})
        if hit is not None:
            self.messages.append({"role": "assistant", "content": hit[0], "guard": hit[1].category})
            yield "crisis", hit[0]
            return
        streamer = TextIteratorStreamer(self.engine.tokenizer, skip_special_tokens=True)
        job = self.engine.submit(self.engine.encode(self.messages), self.sampling, streamer)
        parts = []
        try:
            for piece in streamer:
                parts.append(piece)
                yield "token", piece
        finally:
            job.cancel()  # a caller that stops reading (Ctrl-C) frees the engine
        if job.error:
            self.messages.pop()
            raise RuntimeError(f"the model failed to answer: {job.error}")
        reply = "".join(parts).strip()
        hit = unsafe_reply(self.guard, reply)
        if hit is not None:
            self.messages.append({"role": "assistant", "content": hit[0], "guard": hit[1].category})
            yield "crisis", hit[0]
            return
        self.messages.append({"role": "assistant", "content": reply})

