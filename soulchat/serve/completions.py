"""The OpenAI text-completions protocol (``POST /v1/completions``): request checks, the paper's
prompt read back into turns, ``stop`` sequences, and the ``text_completion`` shapes.

A prompt in the paper's format (``用户：u1\\n心理咨询师：p1\\n…用户：uk\\n心理咨询师：``, what
``generator.endpoint=completions`` and training render) is read back into its turns
(:func:`prompt_messages`), so the server answers it exactly as the same history sent to the chat
route: the guard screens its last user turn, the ids are training's. Any other text is the user's
words as a whole: the guard screens all of it and it is tokenised as it is (its last
``max_input_tokens`` ids kept, as training cut an over-long input).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from soulchat.corpus.format import parse_input
from soulchat.generate.openai import find_stop
from soulchat.serve.protocol import RequestError, _number, check_body

UNSUPPORTED = ("suffix", "echo", "logprobs")  # OpenAI options this server does not implement


@dataclass
class TextRequest:
    """A checked ``/v1/completions`` request."""

    prompt: str
    stream: bool
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    stop: tuple[str, ...]


def parse_completion(body: Any, model_name: str, max_tokens: int) -> TextRequest:
    """Check a ``/v1/completions`` body against the served model and the server's limits.

    Raises:
        RequestError: what is wrong and where (``param``), 404 for another model's name.
    """
    check_body(body, model_name)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError("prompt must be a non-empty string (or a list of one)", "prompt")
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported", "n")
    for key in UNSUPPORTED:
        if body.get(key) not in (None, False, ""):
            raise RequestError(f"{key} is not supported by this server", key)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("stream must be true or false", "stream")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else ([] if stop is None else stop)
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("stop must be a non-empty string or a list of at most 4 of them", "stop")
    tokens = _number(body, "max_tokens", 1, max_tokens, integer=True)
    return TextRequest(prompt, stream, tokens, _number(body, "temperature", 0, 2), _number(body, "top_p", 0.01, 1),
                       tuple(stop))


def prompt_messages(prompt: str, max_messages: int) -> list[dict] | None:
    """The turns of a prompt in the paper's format (ending with the user), or None for other text.

    A prompt counts as the format only when rendering its turns gives it back exactly.

    Raises:
        RequestError: more turns than ``max_messages``.
    """
    msgs = parse_input(prompt)
    if msgs is None:
        return None
    if len(msgs) > max_messages:
        raise RequestError(f"the prompt has {len(msgs)} turns; this server takes at most {max_messages}", "prompt")
    return msgs


def prompt_ids(tokenizer: Any, prompt: str, max_input_tokens: int | None) -> list[int]:
    """Ids of a free-text prompt: tokenised as it is, its last ``max_input_tokens`` kept."""
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    return ids[-max_input_tokens:] if max_input_tokens else ids


class StopScan:
    """Text pieces in, the text before the first ``stop`` sequence out: a piece's end that could
    begin a stop sequence is held back until the next piece shows it does not (``hit`` once found)."""

    def __init__(self, stops: Sequence[str] = ()):
        self.stops = [s for s in stops if s]
        self.held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops or self.hit:
            return "" if self.hit else text
        buf = self.held + text
        at = find_stop(buf, self.stops)
        if at >= 0:
            self.hit, self.held = True, ""
            return buf[:at]
        keep = max((k for s in self.stops for k in range(1, len(s)) if buf.endswith(s[:k])), default=0)
        self.held = buf[len(buf) - keep:] if keep else ""
        return buf[:len(buf) - keep]

    def flush(self) -> str:
        """What is held back once the text has ended without a stop sequence."""
        out, self.held = self.held, ""
        return out


class TextCompletion:
    """The ids and shapes of one ``text_completion`` answer, with the chat shape's method signatures
    (:class:`soulchat.serve.protocol.Completion`) so one answering path serves both routes."""

    def __init__(self, model: str):
        self.id = f"cmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def _base(self) -> dict:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model}

    def message(self, text: str, finish: str, usage: dict, guard: dict | None = None) -> dict:
        out = {**self._base(), "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
               "usage": usage}
        return {**out, "guard": guard} if guard else out

    def chunk(self, delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        text = delta.get("content", "")
        if not text and finish is None and not extra:
            return b""  # the chat stream's opening role event has no text counterpart
        body = {**self._base(), "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
                **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode("utf-8")
