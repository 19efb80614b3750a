"""What the local test server (:mod:`.llm_server`) answers: the default responder's text, the
completion objects around it, shaped by the answer faults (``malformed``, ``short``, ``meta``,
``content_filter``; token counts are character counts), and the batch files API (:class:`BatchFiles`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any, Callable, Optional

from aiohttp import web

from soulchat.speakers import ASSISTANT, COLON, LABELS, SMILE_LABELS, USER

Responder = Callable[[dict], str]


def _snippets(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"[。！？!?\n]+", text) if len(p.strip()) >= 2]
    return parts or ["嗯"]


def _input_text(body: dict) -> str:
    """A request's input: the completions ``prompt``, or the chat messages' contents joined."""
    if "prompt" in body:
        return str(body["prompt"])
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def default_responder(body: dict) -> str:
    """A deterministic answer: for a rewrite prompt, a 10-utterance dialogue built from the source
    (用户/心理咨询师, or 求助者/支持者 when the prompt asks for those); otherwise a short reply."""
    prompt = _input_text(body)
    if "改写" not in prompt:
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        return f"我能理解你的感受，谢谢你愿意说出来。({digest})"
    labels = SMILE_LABELS if SMILE_LABELS[USER] in prompt else LABELS
    user, counsellor = labels[USER], labels[ASSISTANT]
    bits = _snippets(prompt.split("】：", 1)[-1] if "】：" in prompt else prompt)
    lines = []
    for i in range(5):
        lines.append(f"{user}：{bits[i % len(bits)][:60]}，我该怎么办？")
        lines.append(f"{counsellor}：我理解你的感受，{bits[(i + 1) % len(bits)][:60]}。")
    return "\n".join(lines)


def completion(body: dict, text: Optional[str], fault: Optional[str], n: int) -> dict:
    """A chat.completion object answering ``body`` with ``text`` (chat requests and batch lines), or a
    text_completion one when ``body`` has a ``prompt``; ``fault`` an answer fault or None, ``n`` numbers the id."""
    finish = "stop"
    if fault == "malformed":
        text = "抱歉，我无法完成这个请求。"
    elif fault == "short":
        text = f"{LABELS[USER]}{COLON}你好\n{LABELS[ASSISTANT]}{COLON}你好，请说。"
    elif fault == "meta":
        text = (text or "") + "\n以上是改写后的多轮对话。"
    elif fault == "content_filter":
        text, finish = None, "content_filter"
    prompt_tokens = len(str(body["prompt"])) if "prompt" in body else \
        sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    completion_tokens = len(text or "")
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    if "prompt" in body:
        return {"id": f"cmpl-{n}", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model", "test"), "usage": usage,
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]}
    return {
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "test"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": usage,
    }


class BatchFiles:
    """The batch files API (``POST /v1/files``, ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
    ``GET /v1/batches/{id}``): a batch is answered when it is created (each line by ``answer(body)``),
    seen in progress at the first poll and completed at the next (so pollers really poll).

    Args:
        answer: a request body -> its completion object (the server's, faults aside).
        record: ``record(path, body)`` logs an upload (body None) or a batch's creation.
    """

    def __init__(self, answer: Callable[[dict], dict], record: Callable[[str, Any], None]) -> None:
        self.answer, self.record = answer, record
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.create_batch)
        app.router.add_get("/v1/batches/{id}", self.get_batch)

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read()  # type: ignore[union-attr]
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = data
        self.record(request.path, None)
        return web.json_response({"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                  "filename": getattr(upload, "filename", "input.jsonl"),
                                  "purpose": form.get("purpose", "batch"), "status": "processed"})

    async def file_content(self, request: web.Request) -> web.Response:
        fid = request.match_info["id"]
        if fid not in self.files:
            return web.json_response({"error": {"message": f"no file {fid}"}}, status=404)
        return web.Response(body=self.files[fid], content_type="application/octet-stream")

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record(request.path, body)
        lines = self.files[body["input_file_id"]].decode("utf-8").splitlines()
        out = []
        for i, line in enumerate(filter(str.strip, lines)):
            req = json.loads(line)
            out.append(json.dumps({"id": f"batch_req_{i}", "custom_id": req["custom_id"],
                                   "response": {"status_code": 200, "request_id": f"req_{i}",
                                                "body": self.answer(req["body"])},
                                   "error": None}, ensure_ascii=False))
        out_id = f"file-{len(self.files) + 1}"
        self.files[out_id] = ("\n".join(out) + "\n").encode("utf-8")
        bid = f"batch_{len(self.batches) + 1}"
        self.batches[bid] = {
            "id": bid, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
            "completion_window": body.get("completion_window", "24h"), "status": "in_progress",
            "output_file_id": None, "created_at": int(time.time()),
            "request_counts": {"total": len(out), "completed": 0, "failed": 0}, "_out": out_id,
        }
        return web.json_response({k: v for k, v in self.batches[bid].items() if not k.startswith("_")})

    async def get_batch(self, request: web.Request) -> web.Response:
        batch = self.batches[request.match_info["id"]]
        if batch["status"] == "in_progress" and batch.get("_polled"):
            batch.update(status="completed", output_file_id=batch["_out"],
                         request_counts={**batch["request_counts"], "completed": batch["request_counts"]["total"]})
        batch["_polled"] = True
        return web.json_response({k: v for k, v in batch.items() if not k.startswith("_")})
