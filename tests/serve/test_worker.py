"""The server's engine in a process of its own: jobs stream text back to the event loop, batch there,
can be cancelled and are ended on close; ``soulchat serve`` samples in a child process."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from chat_support import get_json, post

from soulchat.chat.engine import Sampling
from soulchat.chat.stream import TextPieces
from soulchat.errors import SoulchatError
from soulchat.serve.worker import EngineProcess


def _streamer(engine, texts, key):
    return TextPieces(engine.tokenizer, lambda piece, ended: texts.__setitem__(key, texts.get(key, "") + piece))


def test_jobs_stream_batch_cancel_and_close(random_hf):
    engine = EngineProcess(random_hf, 256, None, 8, 0, "cpu", "float32")
    assert engine.process.pid != os.getpid() and engine.process.is_alive()

    async def run():
        texts = {}
        ids = [engine.encode([{"role": "user", "content": f"第{i}个：我很孤独。"}]) for i in range(4)]
        jobs = [engine.submit(x, Sampling(24, 0.95, 0.75, 50), _streamer(engine, texts, i)) for i, x in enumerate(ids)]
        long = engine.submit(ids[0], Sampling(1000, 0.95, 0.75, 50), _streamer(engine, texts, "long"))
        while not all(j.done.is_set() for j in jobs):
            await asyncio.sleep(0.01)
        long.cancel()
        while not long.done.is_set():
            await asyncio.sleep(0.01)
        waiting = engine.submit(ids[1], Sampling(1000, 0.95, 0.75, 50), _streamer(engine, texts, "closed"))
        return texts, jobs, long, waiting

    try:
        texts, jobs, long, waiting = asyncio.run(run())
    finally:
        engine.close()
    assert all(j.finish_reason in ("stop", "length") and 0 < j.tokens <= 24 for j in jobs)
    for i, job in enumerate(jobs):  # every token reached the streamer on this side, as text
        assert len(job.streamer.ids) == job.tokens
        assert texts.get(i, "") == engine.tokenizer.decode(job.streamer.ids, skip_special_tokens=True)
    assert long.finish_reason == "cancelled" and long.tokens < 1000
    assert waiting.done.is_set() and waiting.finish_reason == "cancelled"  # close ended it
    assert max(engine.batches) > 1 and engine.submitted == 6
    assert engine.finished["cancelled"] >= 2 and not engine.process.is_alive()


def test_tokens_come_back_gathered_not_one_message_per_step(random_hf):
    interval = 0.25
    engine = EngineProcess(random_hf, 256, None, 8, 0, "cpu", "float32", interval=interval)

    async def run():
        texts = {}
        ids = engine.encode([{"role": "user", "content": "我很孤独。"}])
        t0 = time.perf_counter()
        job = engine.submit(ids, Sampling(200, 0.95, 0.75, 50), _streamer(engine, texts, 0))
        while not job.done.is_set():
            await asyncio.sleep(0.01)
        return job, time.perf_counter() - t0

    try:
        job, elapsed = asyncio.run(run())
    finally:
        engine.close()
    assert job.tokens > 100  # the random model rarely says eos
    # at most one message per interval of steps, plus the first token's and the finish's (sent at once):
    # a bound from the run's own duration, so a slow or loaded machine cannot fail it
    assert engine.messages <= elapsed / interval + 3, (engine.messages, elapsed)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path, random_hf):
    bad = tmp_path / "hf"
    bad.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (bad / name).write_bytes((Path(random_hf) / name).read_bytes())
    with pytest.raises(SoulchatError, match=str(bad)):
        EngineProcess(bad, 256, None, 4, 0, "cpu", "float32")


def test_soulchat_serve_samples_in_a_child_process(server):
    status, body = post(f"{server}/v1/chat/completions", {"messages": [{"role": "user", "content": "你好"}],
                                                          "max_tokens": 4})
    assert status == 200, body
    port = int(server.rsplit(":", 1)[1])
    pid = _listener(port)
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    cmdlines = [Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode() for c in children]
    assert any("multiprocessing" in c and "spawn_main" in c for c in cmdlines), cmdlines
    assert get_json(f"{server}/health")["requests"] >= 1


def _listener(port: int) -> int:
    """The pid of the process listening on ``port`` (from /proc/net/tcp and the processes' sockets)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inode = fields[9]
    assert inode is not None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"no process listens on {port}")


def test_ctrl_c_stops_the_server_and_its_engine_quietly(random_hf, tmp_path):
    import signal
    import subprocess
    import sys

    log = tmp_path / "serve.log"
    with open(log, "w") as err:  # its own process group, as a terminal's foreground job: Ctrl-C reaches both
        proc = subprocess.Popen([sys.executable, "-m", "soulchat", "serve", str(random_hf), "serve.port=0"],
                                cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=err,
                                text=True, start_new_session=True)
        try:
            for line in proc.stdout:
                if line.startswith("soulchat serve: http://"):
                    break
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.stdout.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]
