"""OpenAI's Batch API with the client's store keys: write requests, submit and poll, ingest answers.

For big jobs (half the price, a 24 h window):

1. :func:`write_requests` writes one JSON line per request not yet stored, ``custom_id`` being
   ``<store key>:<item id>`` (attempt 1) and ``body`` exactly what the live client would send;
2. :func:`submit` uploads the file, creates the batch, polls until it ends and downloads the output;
3. :func:`ingest_output` stores every answer under its ``custom_id``'s key.

A normal run afterwards finds every answer in the store (re-asks of invalid answers go live).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Iterable

from soulchat.errors import ConfigError
from soulchat.io import InputError, JsonlAppender, read_jsonl
from soulchat.llm.client import LLMClient, Request
from soulchat.llm.store import Stored

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
FINAL = ("completed", "failed", "expired", "cancelled")


def write_requests(client: LLMClient, requests: Iterable[Request], path: str | Path) -> int:
    """Write the batch input file for the requests whose first attempt is not stored; return how many."""
    path = Path(path)
    path.unlink(missing_ok=True)
    n = 0
    with JsonlAppender(path) as out:
        for req in requests:
            key = client.key_for(req, 1)
            if client.store.get(key) is not None:
                continue
            out.write({"custom_id": f"{key}:{req.id}", "method": "POST", "url": ENDPOINT,
                       "body": {"model": client.model, "messages": req.messages, **client.params_for(req)}})
            n += 1
    log.info("batch: %d requests written to %s", n, path)
    return n


def ingest_output(client: LLMClient, path: str | Path) -> dict[str, int]:
    """Store every successful answer of a batch output file; return ``{"stored", "failed"}``.

    Raises:
        InputError: a line without ``custom_id`` in the ``<key>:<item>`` form.
    """
    counts = {"stored": 0, "failed": 0}
    for n, rec in read_jsonl(path):
        key, sep, item = str(rec.get("custom_id", "")).partition(":")
        if not sep or len(key) != 32:
            raise InputError(path, n, "custom_id", "expected '<store key>:<item id>' as written by write_requests")
        resp = rec.get("response") or {}
        if rec.get("error") or resp.get("status_code") != 200:
            counts["failed"] += 1
            log.warning("batch: %s failed: %s", item, rec.get("error") or resp.get("status_code"))
            continue
        body = resp["body"]
        choice = (body.get("choices") or [{}])[0]
        usage = body.get("usage") or {}
        client.store.put(Stored(key, item, 1, client.model, (choice.get("message") or {}).get("content"),
                                choice.get("finish_reason"), int(usage.get("prompt_tokens", 0)),
                                int(usage.get("completion_tokens", 0)), {"batch": str(path)}))
        counts["stored"] += 1
    log.info("batch: ingested %s: %d answers stored, %d failed", path, counts["stored"], counts["failed"])
    return counts


async def submit(client: LLMClient, path: str | Path, output: str | Path, poll_s: float = 30.0) -> dict[str, Any]:
    """Upload ``path``, create the batch, poll until it ends, download its output to ``output``.

    Returns the final batch object (as a dict).

    Raises:
        RuntimeError: offline endpoint, or the batch ended ``failed``/``expired``/``cancelled``.
    """
    if client.offline:
        raise ConfigError("batch submit needs a live endpoint: endpoint=openai endpoint.base_url=<url>")
    api = client.open_api()
    try:
        with open(path, "rb") as fh:
            uploaded = await api.files.create(file=fh, purpose="batch")
        batch = await api.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
        log.info("batch %s created from %s (%s)", batch.id, path, uploaded.id)
        while batch.status not in FINAL:
            await asyncio.sleep(poll_s)
            batch = await api.batches.retrieve(batch.id)
            log.info("batch %s: %s %s", batch.id, batch.status, batch.request_counts)
        if batch.status != "completed" or not batch.output_file_id:
            raise RuntimeError(f"batch {batch.id} ended {batch.status}; errors: {batch.errors}")
        content = await api.files.content(batch.output_file_id)
        Path(output).write_bytes(content.content)
        return json.loads(batch.model_dump_json())
    finally:
        await api.close()
