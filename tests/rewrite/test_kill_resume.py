"""kill -9 in the middle of a live rewrite, run the same command again: nothing lost, nothing paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from soulchat.io import read_jsonl
from soulchat.llm.store import ResponseStore
from soulchat.registry import build
from soulchat.rewrite.source import read_qa
from soulchat.testing.llm_server import TestServer

N = 160


@pytest.mark.slow
def test_kill_9_then_rerun(tmp_path, compose):
    cfg = compose([])
    prompt = build("prompt", cfg.prompt)
    id_of = {prompt.render(qa): qa.id for qa in read_qa(cfg.rewrite.source, N)[0]}
    env = {**os.environ, "SOULCHAT_OUTPUTS": str(tmp_path / "out"), "OPENAI_API_KEY": "sk-test"}
    with TestServer(latency=0.05) as server:
        cmd = [sys.executable, "-m", "soulchat", "stages=[rewrite]", "tracking.enabled=false",
               f"rewrite.limit={N}", "rewrite.concurrency=4", *server.overrides()]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while server.count() < N // 3:
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the first run never got going"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        sent_before = len(server.log)
        store_path = Path(tmp_path / "out" / "cache" / "llm" / "responses.sqlite")
        stored = {row.item for row in ResponseStore(store_path).items()}
        assert 0 < len(stored) < N

        second = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=180)
        assert second.returncode == 0, second.stderr.decode()[-3000:]

    items = [id_of[body["messages"][0]["content"]] for body in server.chat_bodies()]
    resent = [i for i in items[sent_before:] if i in stored]
    assert resent == [], f"answers already stored were asked again: {resent[:5]}"
    twice = [i for i, n in Counter(items).items() if n > 1]
    assert len(twice) <= 4, "only the requests in flight at the kill (concurrency 4) may be sent twice"
    assert sorted(set(items)) == sorted(id_of.values())
    final = next((tmp_path / "out" / "cache" / "rewrite").glob("*/dialogues.jsonl"))
    assert sorted(d["id"] for _, d in read_jsonl(final)) == sorted(id_of.values())
