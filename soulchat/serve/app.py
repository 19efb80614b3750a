"""The aiohttp application: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``,
``GET /health``, ``GET /``.

Every answer runs through the guard (the user's last message before the model, the reply after:
:mod:`soulchat.chat.session`) and the engine (:mod:`soulchat.chat.engine`), which batches requests
on the fly. The guard's screens run in worker threads (``guard=llm`` waits on HTTP). A request handler only waits on its own queue of text pieces, which the engine's thread
fills without waiting, so a slow or stalled client holds up nobody else; a client that goes away
cancels its row (``handler_cancellation``). Errors are OpenAI-shaped JSON (:mod:`.protocol`).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from soulchat.chat.config import shown_disclosure
from soulchat.chat.model import sampling
from soulchat.chat.session import screen_message, unsafe_reply
from soulchat.serve.bridge import Mailbox, make_streamer, pieces
from soulchat.serve.completions import StopScan, TextCompletion, parse_completion, prompt_ids, prompt_messages
from soulchat.serve.protocol import Completion, RequestError, error_response, guard_field, parse_chat, usage

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")
STATE = web.AppKey("soulchat", dict)


@web.middleware
async def errors_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    """The bearer key on ``/v1/*`` (when one is set); every error as OpenAI's JSON body."""
    key = request.app[STATE]["key"]
    try:
        if key and request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                raise RequestError("invalid or missing API key (send Authorization: Bearer <key>)", None, 401,
                                   code="invalid_api_key")
        return await handler(request)
    except RequestError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(RequestError(exc.reason, None, exc.status,
                                           "not_found_error" if exc.status == 404 else "invalid_request_error"))


async def read_body(request: web.Request, limit: int) -> Any:
    if request.content_length is not None and request.content_length > limit:
        raise RequestError(f"the body is {request.content_length} bytes; this server takes at most {limit}", None, 413)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(f"the body is over {limit} bytes, this server's limit", None, 413) from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"the body is not JSON: {exc}") from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    cfg, engine, guard = st["cfg"], st["engine"], st["guard"]
    body = await read_body(request, int(cfg.serve.max_body_bytes))
    req = parse_chat(body, cfg.serve.model_name, int(cfg.serve.max_messages), int(cfg.serve.max_tokens))
    comp = Completion(cfg.serve.model_name)
    verdict, words = await asyncio.to_thread(screen_message, guard, req.messages[-1]["content"], req.messages[:-1])
    if verdict.flagged:
        return await answer_crisis(request, req.stream, comp, words, verdict)
    return await answer(request, comp, engine.encode(req.messages), req, note=(words, verdict) if words else None,
                        history=req.messages)


async def completions(request: web.Request) -> web.StreamResponse:
    """A raw prompt: in the paper's format, answered as its turns through chat would be; other text
    is screened whole and tokenised as it is (:mod:`.completions`)."""
    st = request.app[STATE]
    cfg, engine, guard = st["cfg"], st["engine"], st["guard"]
    body = await read_body(request, int(cfg.serve.max_body_bytes))
    req = parse_completion(body, cfg.serve.model_name, int(cfg.serve.max_tokens))
    comp = TextCompletion(cfg.serve.model_name)
    turns = prompt_messages(req.prompt, int(cfg.serve.max_messages))
    msgs = turns or [{"role": "user", "content": req.prompt}]  # free text: the user's words as a whole
    verdict, words = await asyncio.to_thread(screen_message, guard, msgs[-1]["content"], msgs[:-1])
    if verdict.flagged:
        return await answer_crisis(request, req.stream, comp, words, verdict)
    ids = engine.encode(turns) if turns else prompt_ids(engine.tokenizer, req.prompt, engine.gen.max_input_tokens)
    return await answer(request, comp, ids, req, req.stop, note=(words, verdict) if words else None, history=msgs)


async def answer(request: web.Request, comp: Any, ids: list[int], req: Any, stops: tuple = (),
                 note: tuple[str, Any] | None = None, history: Any = ()) -> web.StreamResponse:
    """The model's reply to ``ids`` in ``comp``'s shape, plain or streamed (``req``: stream and
    sampling), screened by the guard after ``history`` (the messages it answers); it ends before the
    first of ``stops``. ``note``: the guard's concern note and verdict, added after a reply that
    passes, marked in the ``guard`` field."""
    st = request.app[STATE]
    cfg, engine, guard = st["cfg"], st["engine"], st["guard"]
    streamer = make_streamer(engine.tokenizer, st["mailbox"])
    job = engine.submit(ids, sampling(cfg, max_new_tokens=req.max_tokens, temperature=req.temperature,
                                      top_p=req.top_p), streamer)
    resp, parts, scan = None, [], StopScan(stops)

    async def emit(text: str) -> None:
        if text:
            parts.append(text)
            if resp is not None:
                await resp.write(comp.chunk({"content": text}))

    try:
        if req.stream:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            await resp.write(comp.chunk({"role": "assistant", "content": ""}))
        async for piece in pieces(streamer.queue):
            await emit(scan.feed(piece))
            if scan.hit:
                break
        await emit(scan.flush())  # held back for a stop sequence that never came
    finally:
        job.cancel()  # the client went away (the handler is cancelled): free its row
    if job.error:
        if resp is None:
            raise RequestError(f"the model failed: {job.error}", None, 500, "server_error")
        await resp.write(b'data: {"error": {"message": "the model failed", "type": "server_error"}}\n\n')
        return resp
    reply = "".join(parts).strip()
    counts = usage(len(ids), job.tokens)
    finish = "stop" if scan.hit or job.finish_reason not in ("stop", "length") else job.finish_reason
    flagged = await asyncio.to_thread(unsafe_reply, guard, reply, history)
    if resp is None:
        if flagged is not None:
            return web.json_response(comp.message(flagged[0], "stop", counts, guard_field(flagged[1], "reply")))
        if note is not None:
            return web.json_response(comp.message(f"{reply}\n\n{note[0]}", finish, counts, guard_field(note[1], "user")))
        return web.json_response(comp.message(reply, finish, counts))
    if flagged is not None:  # already streamed: the crisis response follows, marked so a page can replace it
        await resp.write(comp.chunk({"content": "\n\n" + flagged[0]}, guard=guard_field(flagged[1], "reply")))
    elif note is not None:
        await resp.write(comp.chunk({"content": "\n\n" + note[0]}, guard=guard_field(note[1], "user")))
    await resp.write(comp.chunk({}, finish, usage=counts))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def answer_crisis(request: web.Request, stream: bool, comp: Completion, text: str,
                        verdict: Any) -> web.StreamResponse:
    """The guard's response to a flagged user message, in the shape the client asked for."""
    mark = guard_field(verdict, "user")
    if not stream:
        return web.json_response(comp.message(text, "stop", usage(0, 0), mark))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    await resp.write(comp.chunk({"role": "assistant", "content": text}, guard=mark))
    await resp.write(comp.chunk({}, "stop", usage=usage(0, 0)))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def models(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return web.json_response({"object": "list", "data": [
        {"id": st["cfg"].serve.model_name, "object": "model", "created": st["started"], "owned_by": "soulchat"}]})


async def health(request: web.Request) -> web.Response:
    engine = request.app[STATE]["engine"]
    return web.json_response({"status": "ok", "model": request.app[STATE]["cfg"].serve.model_name,
                              "batches": len(engine.batches), "requests": engine.submitted,
                              "largest_batch": max(engine.batches, default=0),
                              "finish_reasons": dict(engine.finished)})


async def page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[STATE]["page"], content_type="text/html", charset="utf-8")


def render_page(model_name: str, disclosure: str) -> str:
    """The web page with the served model's name and the disclosure filled in."""
    settings = json.dumps({"model": model_name}, ensure_ascii=False).replace("<", "\\u003c")
    return (PAGE.read_text(encoding="utf-8").replace("__DISCLOSURE__", html.escape(disclosure))
            .replace("__SETTINGS__", settings))


def make_app(cfg: Any, engine: Any, guard: Any, key: str | None) -> web.Application:
    """The application for a composed config, a started engine, a guard and the bearer key (or None)."""
    app = web.Application(middlewares=[errors_and_auth], client_max_size=int(cfg.serve.max_body_bytes))
    app[STATE] = {"cfg": cfg, "engine": engine, "guard": guard, "key": key, "started": int(time.time()),
                  "page": render_page(cfg.serve.model_name, shown_disclosure(cfg))}
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/", page)

    async def open_mailbox(app: web.Application) -> None:  # the loop exists only once the app runs
        app[STATE]["mailbox"] = Mailbox(asyncio.get_running_loop())

    app.on_startup.append(open_mailbox)
    return app
