"""One model behind a worker thread: requests are batched on the fly and their tokens streamed.

:class:`Engine` wraps :class:`soulchat.generate.hf.HFGenerator` (the same loading, padding and
KV-cached sampling loop as the generate stage). Callers :meth:`Engine.submit` a :class:`Job`: the
history's input ids (encoded exactly as training saw them) and a streamer (:class:`soulchat.chat.stream.TextPieces`). The worker
takes every job waiting when it is free (up to ``max_batch_size``, same sampling settings), so
requests that arrive while a batch runs join the next one; each step's token goes to its row's
streamer as it is drawn, and a row stops at eos, at its own ``max_new_tokens`` or when its caller
cancels it. The worker never waits on a caller, so a slow reader cannot hold up the others.

A batch runs at least ``segment`` steps; after that, when jobs are waiting, it stops and its
unfinished rows go back to the end of the queue with what they have said so far appended to their
input (re-read in one forward pass when they resume, as vLLM's preemption by recomputation), so a long
reply delays a new request by at most ``segment`` steps instead of its whole length. It also stops
after any step when the waiting jobs that could join it are at least as many as its rows (and all
fit): requests that arrive one after another (16 clients at once reach the engine over tens of
milliseconds) then grow one batch, instead of the first running alone for ``segment`` steps, then
the next few, and so on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sampling:
    """A request's sampling; jobs are batched only with jobs of equal temperature, top-k and top-p."""

    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int

    @property
    def group(self) -> tuple[float, float, int]:
        return (self.temperature, self.top_p, self.top_k)


@dataclass(eq=False)
class Job:
    """One request: ``ids`` in, tokens out through ``streamer`` (``put(token_id)`` / ``end()``)."""

    ids: list[int]
    sampling: Sampling
    streamer: Any
    tokens: int = 0  # new tokens streamed so far
    said: list[int] = field(default_factory=list)  # their ids (appended to the input when a row resumes)
    finish_reason: str | None = None  # stop (eos) | length | cancelled | error
    error: str | None = None
    submitted: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    ledger: Counter = field(default_factory=Counter)  # finish reasons are counted here (the engine's)

    def cancel(self) -> None:
        """Stop this row at the next step (the caller went away)."""
        self.cancelled = True

    def finish(self, reason: str, error: str | None = None) -> None:
        if self.done.is_set():
            return
        self.finish_reason, self.error = reason, error
        self.ledger[reason] += 1
        try:
            self.streamer.end()
        finally:
            self.done.set()


class Engine:
    """A loaded model and the thread that samples for it.

    Args:
        model_dir: a Hugging Face folder (train's ``hf/`` or an export).
        max_input_tokens, max_history_turns: the training input budget (:func:`encode`).
        max_batch_size: most jobs sampled together.
        seed: batch ``b`` is sampled with ``seed + b``.
        segment: steps a batch runs before waiting jobs may take turns with it.
        device, dtype, trust_remote_code: as ``generator=hf``.
        after_step: called in the worker thread once each step's tokens are with their streamers.
    """

    def __init__(self, model_dir: str | Path, max_input_tokens: int | None, max_history_turns: int | None = None,
                 max_batch_size: int = 16, seed: int = 0, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, segment: int = 16, after_step: Any = None):
        from soulchat.generate.hf import HFGenerator

        self.gen = HFGenerator(model_dir, max_input_tokens, 1, 1.0, 1.0, max_batch_size, seed, device, dtype,
                               trust_remote_code=trust_remote_code)
        self.tokenizer = self.gen.tokenizer
        self.max_history_turns = max_history_turns
        self.max_batch_size = max(1, int(max_batch_size))
        self.seed = int(seed)
        self.segment = max(1, int(segment))
        self.after_step = after_step
        self.batches: list[int] = []  # size of every batch (or segment) sampled: the batching, observable
        self.submitted = 0  # jobs submitted
        self.finished: Counter = Counter()  # jobs by finish reason
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._cv = threading.Condition()
        self._model = threading.Lock()  # one thread samples at a time (the worker, or generate's caller)
        self._stop = False
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="soulchat-engine", daemon=True)
        self._thread.start()

    def encode(self, messages: Sequence[dict]) -> list[int]:
        """Input ids of a history ending with the user, exactly as training saw them."""
        from soulchat.corpus.format import encode_input

        return encode_input(self.tokenizer, messages, self.gen.max_input_tokens, self.max_history_turns)

    def submit(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        job = Job(list(ids), sampling, streamer, ledger=self.finished)
        with self._cv:
            if self._stop:
                raise RuntimeError("the engine is closed")
            self._waiting.append(job)
            self.submitted += 1
            self._cv.notify()
        return job

    def generate(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        """Sample one job in the calling thread, streaming to ``streamer`` as :meth:`submit` does: a
        single person's chat has nobody to batch with, and handing each token between threads costs
        more than the rest of the turn. Raises what sampling raises (KeyboardInterrupt included)."""
        job = Job(list(ids), sampling, streamer, ledger=self.finished)
        with self._model:
            self.submitted += 1
            while not job.done.is_set():  # more than one round only if submitted jobs took turns
                self._run([job])
        return job

    def close(self) -> None:
        """Stop: the batch being sampled ends at its next step, waiting jobs are cancelled."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        for job in self._running:
            job.cancel()
        self._thread.join(timeout=30)
        for job in self._waiting:
            job.finish("cancelled")

    def _take(self) -> list[Job] | None:
        """Every waiting job of the first one's sampling group (at most ``max_batch_size``)."""
        with self._cv:
            while not self._waiting and not self._stop:
                self._cv.wait()
            if self._stop:
                return None
            group = self._waiting[0].sampling.group
            batch = [j for j in self._waiting if j.sampling.group == group][: self.max_batch_size]
            for job in batch:
                self._waiting.remove(job)
            return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            live = [j for j in batch if not j.cancelled]
            for job in batch:
                if job.cancelled:
                    job.finish("cancelled")
            self._running = live
            if live:
                self.batches.append(len(live))
                try:
                    with self._model:
                        self._run(live)
                except Exception as exc:  # a failed batch fails its jobs, never the server
                    log.exception("sampling a batch of %d failed", len(live))
                    for job in live:
                        job.finish("error", f"{type(exc).__name__}: {exc}")
            rest = [j for j in live if not j.done.is_set()]
            if rest:  # stopped for waiting jobs: resume after them
                with self._cv:
                    self._waiting.extend(rest)

    def _doubles(self, jobs: list[Job]) -> bool:
        """Whether the waiting jobs of these rows' group are at least as many as the rows, and all of
        them fit in one batch with the rows (so stopping loses no row its place)."""
        live = sum(not j.done.is_set() for j in jobs)
        group = jobs[0].sampling.group
        with self._cv:
            joiners = sum(j.sampling.group == group for j in self._waiting)
        return live <= joiners <= self.max_batch_size - live

    def _run(self, jobs: list[Job]) -> None:
        eos = self.tokenizer.eos_token_id

        steps = 0

        def on_step(tokens: Any) -> bool:
            nonlocal steps
            steps += 1
            for job, token in zip(jobs, tokens.tolist()):
                if job.done.is_set():
                    continue
                if job.cancelled:
                    job.finish("cancelled")
                elif token == eos:
                    job.finish("stop")
                else:
                    job.streamer.put(token)
                    job.said.append(token)
                    job.tokens += 1
                    if job.tokens >= job.sampling.max_new_tokens:
                        job.finish("length")
            if self.after_step is not None:
                self.after_step()
            if all(j.done.is_set() for j in jobs):
                return True
            return bool(self._waiting) and (steps >= self.segment or self._doubles(jobs))

        s = jobs[0].sampling
        self.gen.generate_ids([j.ids + j.said for j in jobs], self.seed + next(self._counter), on_step=on_step,
                              max_new_tokens=max(j.sampling.max_new_tokens - j.tokens for j in jobs),
                              temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
