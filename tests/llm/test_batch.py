"""The Batch API path: write requests, submit and poll against the local server, ingest, reuse."""

import asyncio
import json

from soulchat.llm import LLMClient, Request, batch


def test_batch_round_trip(server, tmp_path):
    c = LLMClient(server.endpoint(tmp_path / "store.sqlite"), progress=False)
    reqs = [Request(id=f"b{i}", messages=[{"role": "user", "content": f"问题 {i}"}]) for i in range(5)]
    c.run(reqs[:1])  # one already stored: not written again
    path = tmp_path / "batch.jsonl"
    assert batch.write_requests(c, reqs, path) == 4
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert {x["custom_id"].split(":", 1)[1] for x in lines} == {"b1", "b2", "b3", "b4"}
    assert lines[0]["body"]["model"] == "gpt-3.5-turbo" and lines[0]["body"]["max_tokens"] == 2048
    final = asyncio.run(batch.submit(c, path, tmp_path / "out.jsonl", poll_s=0.01))
    assert final["status"] == "completed"
    assert server.count("/v1/batches") == 1 and server.count("/v1/files") == 1
    assert batch.ingest_output(c, tmp_path / "out.jsonl") == {"stored": 4, "failed": 0}
    results = c.run(reqs)
    assert all(r.status == "ok" and r.from_store == 1 for r in results)
    assert server.count() == 1, "answers ingested from the batch were asked again"
