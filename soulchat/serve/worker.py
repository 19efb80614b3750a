"""The server's engine in a process of its own, so sampling never waits on the event loop's GIL.

In one process the loop's work (waking on 16 sockets, writing their events) and the engine's decode
steps, mostly Python in transformers' modules, take turns on one interpreter lock, and on a loaded
machine every hand-over waits for the other thread to be scheduled. :class:`EngineProcess` runs an
:class:`soulchat.chat.engine.Engine` in a spawned process and offers the server the same surface
(``submit`` / ``encode`` / ``tokenizer`` / ``batches`` / ``submitted`` / ``finished`` / ``close``).
Jobs go down a pipe; the tokens of all rows come back as one message per 10 ms of steps (a reply's
first token and a finish at once), read on the server's event loop (no thread of its own there),
where each job's streamer turns them into text.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import threading
import time
from collections import Counter
from typing import Any, Sequence

from soulchat.chat.engine import Job, Sampling
from soulchat.errors import SoulchatError


def _worker(conn: Any, args: tuple, kwargs: dict, interval: float = 0.01) -> None:
    """The child: an Engine whose streamers send the tokens of all rows (and finishes) as one message
    per ``interval`` seconds of steps (at once for a reply's first token and for a finish)."""
    import signal

    from soulchat.chat.engine import Engine

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us

    out: list = []  # (job id, token) or (job id, finish reason, error), in order
    lock = threading.Lock()
    sent, last, first = 0, 0.0, False  # batches already reported; when last sent; a reply has begun since

    def flush(due: bool = True) -> None:
        nonlocal sent, last, first
        with lock:
            if not (due or first or time.perf_counter() - last >= interval):
                return
            if out or len(engine.batches) > sent:
                try:
                    conn.send(("step", out.copy(), engine.batches[sent:]))
                except OSError:  # the server went away; the main thread stops on its end of the pipe
                    pass
                sent, last, first = len(engine.batches), time.perf_counter(), False
                out.clear()

    class Forward:
        def __init__(self, key: int) -> None:
            self.key, self.job = key, None

        def put(self, token: int) -> None:
            nonlocal first
            with lock:
                out.append((self.key, token))
                first = first or self.job.tokens == 0  # a first token goes at once (time to first token)

        def end(self) -> None:
            with lock:
                out.append((self.key, self.job.finish_reason, self.job.error))
            flush()

    try:
        engine = Engine(*args, **kwargs, after_step=lambda: flush(due=False))
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", str(engine.gen.device)))
    jobs: dict[int, Job] = {}
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "submit":
                _, key, ids, sampling = msg
                forward = Forward(key)
                forward.job = jobs[key] = engine.submit(ids, Sampling(*sampling), forward)
            elif msg[0] == "cancel" and msg[1] in jobs:
                jobs.pop(msg[1]).cancel()
            elif msg[0] == "stop":
                break
            for key in [k for k, j in jobs.items() if j.done.is_set()]:
                del jobs[key]
    except (EOFError, OSError):  # the server went away
        pass
    finally:
        engine.close()
        flush()


class EngineProcess:
    """An Engine (same arguments) in a spawned process; ``submit`` is called on the server's loop.
    ``interval``: seconds of steps gathered into one message of tokens."""

    def __init__(self, model_dir: Any, max_input_tokens: int | None, max_history_turns: int | None = None,
                 max_batch_size: int = 16, seed: int = 0, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, segment: int = 16, interval: float = 0.01):
        from types import SimpleNamespace

        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=bool(trust_remote_code),
                                                       local_files_only=True)
        self.max_input_tokens, self.max_history_turns = max_input_tokens, max_history_turns
        self.batches: list[int] = []
        self.submitted = 0
        self.finished: Counter = Counter()
        self.messages = 0  # token messages read from the process
        self._jobs: dict[int, Job] = {}
        self._keys = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied threads or locks
        self._conn, child = ctx.Pipe()
        args = (str(model_dir), max_input_tokens, max_history_turns, max_batch_size, seed, device, dtype,
                trust_remote_code, segment)
        self.process = ctx.Process(target=_worker, args=(child, args, {}, interval), name="soulchat-engine",
                                   daemon=True)
        self.process.start()
        child.close()
        try:
            kind, detail = self._conn.recv()
        except EOFError:
            kind, detail = "failed", f"the process exited ({self.process.exitcode})"
        if kind != "ready":
            self.process.join(timeout=5)
            raise SoulchatError(f"the model in {model_dir} could not be loaded: {detail}")
        self.gen = SimpleNamespace(model_dir=model_dir, device=detail, max_input_tokens=max_input_tokens)

    def encode(self, messages: Sequence[dict]) -> list[int]:
        """Input ids of a history ending with the user, exactly as training saw them."""
        from soulchat.corpus.format import encode_input

        return encode_input(self.tokenizer, messages, self.max_input_tokens, self.max_history_turns)

    def submit(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        """A job sampled in the engine's process; its streamer is fed on this (the calling) loop."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._conn.fileno(), self._read)
        if not self.process.is_alive():
            raise RuntimeError("the engine's process has exited")
        key = next(self._keys)
        job = Job(list(ids), sampling, streamer, ledger=self.finished)
        job.cancel = lambda: self._cancel(key, job)  # the row is freed in the engine's process
        self._jobs[key] = job
        self.submitted += 1
        self._conn.send(("submit", key, job.ids, (sampling.max_new_tokens, sampling.temperature,
                                                   sampling.top_p, sampling.top_k)))
        return job

    def _cancel(self, key: int, job: Job) -> None:
        if not job.done.is_set() and not job.cancelled:
            job.cancelled = True
            try:
                self._conn.send(("cancel", key))
            except OSError:
                pass

    def _read(self) -> None:
        try:
            while self._conn.poll():
                self._handle(self._conn.recv())
        except (EOFError, OSError):  # the process died: its jobs end with an error
            self._loop.remove_reader(self._conn.fileno())
            for job in self._jobs.values():
                job.finish("error", f"the engine's process exited ({self.process.exitcode})")
            self._jobs.clear()

    def _handle(self, msg: tuple) -> None:
        _, events, batches = msg
        self.messages += 1
        self.batches.extend(batches)
        for event in events:
            job = self._jobs.get(event[0])
            if job is None:
                continue
            if len(event) == 2:
                job.tokens += 1
                job.streamer.put(event[1])
            else:
                del self._jobs[event[0]]
                job.finish(event[1], event[2])

    def close(self) -> None:
        """Stop the process (its running and waiting jobs end cancelled), then any job left here."""
        try:
            self._conn.send(("stop",))
        except OSError:
            pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._conn.fileno())
        for job in self._jobs.values():
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                job.finish("cancelled")
        self._jobs.clear()
        self._conn.close()
