"""The OpenAI chat-completions protocol: request checks, response and stream-chunk shapes, errors.

A request is refused with OpenAI's error body (``{"error": {"message", "type", "param", "code"}}``)
and a 4xx status when it is not what the model can answer. System messages are dropped: training
never saw one (the paper's format has only 用户 and 心理咨询师). Responses add one field OpenAI
clients ignore: ``guard`` (``{"flagged", "stage", "category"}``) when the crisis guard answered, or
``{"flagged": false, "concern": true, ...}`` when the model answered and the guard's note follows it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

ROLES = ("system", "user", "assistant")


class RequestError(Exception):
    """A refused request: HTTP ``status`` and OpenAI's ``type`` / ``param`` / ``code``."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 type: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.type, self.code = status, param, type, code


def error_response(exc: RequestError) -> web.Response:
    body = {"error": {"message": str(exc), "type": exc.type, "param": exc.param, "code": exc.code}}
    return web.json_response(body, status=exc.status)


@dataclass
class ChatRequest:
    """A checked request: the conversation (user / assistant, ending with the user) and sampling."""

    messages: list[dict]
    stream: bool
    max_tokens: int | None
    temperature: float | None
    top_p: float | None


def _text(content: Any, i: int) -> str:
    """A message's text: a string, or OpenAI's list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise RequestError("content must be a string or a list of text parts", f"messages[{i}].content")


def _number(body: dict, key: str, low: float, high: float, integer: bool = False) -> Any:
    value = body.get(key)
    if value is None:
        return None
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        raise RequestError(f"{key} must be {'an integer' if integer else 'a number'} in [{low}, {high}], "
                           f"got {value!r}", key)
    return value


def check_body(body: Any, model_name: str) -> None:
    """A JSON object naming this server's model, if any (404 for another model's name)."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_name:
        raise RequestError(f"the model {model!r} does not exist; this server serves {model_name!r}", "model",
                           404, code="model_not_found")


def parse_chat(body: Any, model_name: str, max_messages: int, max_tokens: int) -> ChatRequest:
    """Check a ``/v1/chat/completions`` body against the served model and the server's limits.

    Raises:
        RequestError: what is wrong and where (``param``), 404 for another model's name.
    """
    check_body(body, model_name)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RequestError("messages must be a non-empty list", "messages")
    if len(msgs) > max_messages:
        raise RequestError(f"{len(msgs)} messages; this server takes at most {max_messages}", "messages")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(f"role must be one of {list(ROLES)}", f"messages[{i}].role")
        text = _text(m.get("content"), i)
        if m["role"] != "system":
            out.append({"role": m["role"], "content": text})
    if not out or out[-1]["role"] != "user":
        raise RequestError("the last (non-system) message must be the user's", "messages")
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("stream must be true or false", "stream")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    tokens = _number({"max_tokens": limit}, "max_tokens", 1, max_tokens, integer=True)
    return ChatRequest(out, stream, tokens, _number(body, "temperature", 0, 2), _number(body, "top_p", 0.01, 1))


class Completion:
    """The ids and shapes of one answer (plain object, or ``chat.completion.chunk`` events)."""

    def __init__(self, model: str):
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def _base(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def message(self, text: str, finish: str, usage: dict, guard: dict | None = None) -> dict:
        out = {**self._base("chat.completion"),
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
               "usage": usage}
        return {**out, "guard": guard} if guard else out

    def chunk(self, delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        body = {**self._base("chat.completion.chunk"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode("utf-8")


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def guard_field(verdict: Any, stage: str) -> dict:
    """The ``guard`` field of an answer the guard gave or added a concern note to (no text of the user's)."""
    if getattr(verdict, "concern", False):
        return {"flagged": False, "concern": True, "stage": stage, "category": verdict.category}
    return {"flagged": True, "stage": stage, "category": verdict.category}
