"""One model behind a worker thread: requests join the running batch at its next step, tokens stream.

:class:`Engine` uses :class:`soulchat.generate.hf.HFGenerator`'s model and tokenizer. Callers
:meth:`Engine.submit` a :class:`Job`: the history's input ids (encoded exactly as training saw them)
and a streamer (:class:`soulchat.chat.stream.TextPieces`). The worker keeps one running batch
(:class:`Rows`) and before each step admits the waiting jobs that fit (``max_batch_size``): they are
prefilled on their own (rows of similar length together, :mod:`soulchat.generate.prefill`) and
their KV cache, attention mask and positions are joined to the running rows' (continuous batching),
so rows already running are never recomputed. Each step's token goes to its row's streamer as it is
drawn; a row leaves the batch at eos, at its own ``max_new_tokens`` or when its caller cancels it.
Every row samples with its own settings and its own random stream (seeded ``seed + `` the job's
number), so what a request says does not depend on the batch it joined. The worker never waits on
a caller, so a slow reader cannot hold up the others.

A model whose cache cannot be joined (a sliding window, remote code) keeps the old way: newcomers
wait until the batch has run ``segment`` steps, then every row is re-read with them in one prefill
(its input and what it has said so far, as vLLM's preemption by recomputation).
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
    """A request's sampling (each row of a batch samples with its own)."""

    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int


@dataclass(eq=False)
class Job:
    """One request: ``ids`` in, tokens out through ``streamer`` (``put(token_id)`` / ``end()``)."""

    ids: list[int]
    sampling: Sampling
    streamer: Any
    seed: int = 0  # its random stream's seed
    tokens: int = 0  # new tokens streamed so far
    said: list[int] = field(default_factory=list)  # their ids (re-read with the input if its batch is rebuilt)
    finish_reason: str | None = None  # stop (eos) | length | cancelled | error
    error: str | None = None
    submitted: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    ledger: Counter = field(default_factory=Counter)  # finish reasons are counted here (the engine's)
    rng: Any = None  # its torch.Generator, made when it first joins a batch

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


class Rows:
    """The running batch: its jobs and their KV cache, attention mask, next positions and next logits
    (its methods run under ``torch.inference_mode()``, which their caller holds)."""

    def __init__(self, gen: Any):
        from soulchat.generate.sampling import _cache_arg

        self.gen, self.model = gen, gen.model
        self.cache_name, keep = _cache_arg(self.model)
        self.extra = {"logits_to_keep": 1} if keep else {}
        self.jobs: list[Job] = []
        self.cache = self.mask = self.pos = self.logits = None
        self.steps = 0  # steps since the batch was (re)built
        self._settings: tuple | None = None  # the rows' sampling settings as tensors (while the rows stay)

    def joinable(self) -> bool:
        from soulchat.generate.prefill import joinable

        return not self.jobs or joinable(self.cache)

    def add(self, jobs: list[Job]) -> None:
        """Prefill ``jobs`` and join them to the running rows (re-read those too if the cache cannot join)."""
        import torch

        from soulchat.generate.prefill import left_pad, merge, prefill

        if not self.joinable():  # re-read the running rows with them (only once the prefill has worked)
            jobs = [j for j in self.jobs if not j.done.is_set()] + jobs
        ids, mask = left_pad([j.ids + j.said for j in jobs], self.gen.pad_id)
        ids, mask = ids.to(self.gen.device), mask.to(self.gen.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        if self.cache_name == "cache":
            logits, cache = prefill(self.model, ids, mask, pos, self.extra)
        else:
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             past_key_values=None, **self.extra)
            logits, cache = out.logits[:, -1, :], out.past_key_values
        for job in jobs:
            job.rng = job.rng or torch.Generator().manual_seed(job.seed)
        if self.joinable() and self.jobs:
            self.cache, self.mask = merge((self.cache, self.mask), (cache, mask))
            self.logits, self.pos = torch.cat([self.logits, logits]), torch.cat([self.pos, pos[:, -1:] + 1])
        else:
            self.cache, self.mask, self.logits, self.pos, self.steps = cache, mask, logits, pos[:, -1:] + 1, 0
            self.jobs = []
        self.jobs, self._settings = self.jobs + jobs, None

    def sample(self) -> Any:
        """Each row's next token [rows], drawn with its own settings and random stream."""
        import torch

        from soulchat.generate.sampling import sample_rows

        if self._settings is None:
            s, device = [j.sampling for j in self.jobs], self.logits.device
            self._settings = (torch.tensor([[x.temperature] for x in s], device=device), [x.top_k for x in s],
                              torch.tensor([[x.top_p] for x in s], device=device), [j.rng for j in self.jobs])
        return sample_rows(self.logits, *self._settings)

    def advance(self, tokens: Any) -> None:
        """Drop the finished rows (or feed them padding, if the cache cannot drop rows); one step for the rest
        with ``tokens`` [rows] (what :meth:`sample` drew)."""
        import torch

        from soulchat.generate.prefill import select

        keep = [i for i, j in enumerate(self.jobs) if not j.done.is_set()]
        if not keep:
            self.jobs, self.cache, self.mask, self.pos, self.logits, self._settings = [], None, None, None, None, None
            return
        device = self.mask.device
        if len(keep) < len(self.jobs) and self.joinable():
            rows = torch.tensor(keep, device=device)
            self.cache, self.mask = select(self.cache, self.mask, rows)
            self.pos, self.jobs, self._settings = self.pos.index_select(0, rows), [self.jobs[i] for i in keep], None
            tokens = tokens.index_select(0, rows)
        elif len(keep) < len(self.jobs):
            done = torch.tensor([j.done.is_set() for j in self.jobs], device=device)
            tokens = tokens.masked_fill(done, self.gen.pad_id)
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.pos, use_cache=True,
                         **{self.cache_name: self.cache})
        self.cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None) or self.cache
        self.pos, self.logits, self.steps = self.pos + 1, out.logits[:, -1, :], self.steps + 1


class Engine:
    """A loaded model and the thread that samples for it.

    Args:
        model_dir: a Hugging Face folder (train's ``hf/`` or an export).
        max_input_tokens, max_history_turns: the training input budget (:func:`encode`).
        max_batch_size: most jobs sampled together.
        seed: job ``n`` (in submission order) samples with ``seed + n``.
        segment: for a cache that cannot be joined, steps a batch runs before waiting jobs are let in.
        device, dtype, trust_remote_code: as ``generator=hf``.
        after_step: called in the worker thread once each step's tokens are with their streamers.
    """

    def __init__(self, model_dir: str | Path, max_input_tokens: int | None, max_history_turns: int | None = None,
                 max_batch_size: int = 16, seed: int = 0, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, segment: int = 16, after_step: Any = None):
        from soulchat.generate.hf import HFGenerator

        self.gen = HFGenerator(model_dir, max_input_tokens, 1, 1.0, 1.0, max_batch_size, seed, device, dtype,
                               trust_remote_code=trust_remote_code, max_history_turns=max_history_turns)
        self.tokenizer = self.gen.tokenizer
        self.max_batch_size = max(1, int(max_batch_size))
        self.seed = int(seed)
        self.segment = max(1, int(segment))
        self.after_step = after_step
        self.batches: list[int] = []  # the running batch's size after each admission: the batching, observable
        self.submitted = 0  # jobs submitted
        self.finished: Counter = Counter()  # jobs by finish reason
        self._waiting: deque[Job] = deque()
        self._rows = Rows(self.gen)
        self._cv = threading.Condition()
        self._model = threading.Lock()  # one thread samples at a time (the worker, or generate's caller)
        self._stop = False
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="soulchat-engine", daemon=True)
        self._thread.start()

    def encode(self, messages: Sequence[dict]) -> list[int]:
        """Input ids of a history ending with the user, exactly as training saw them."""
        return self.gen.encode({"history": messages})

    def _job(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        return Job(list(ids), sampling, streamer, seed=self.seed + next(self._counter), ledger=self.finished)

    def submit(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        with self._cv:
            if self._stop:
                raise RuntimeError("the engine is closed")
            job = self._job(ids, sampling, streamer)
            self._waiting.append(job)
            self.submitted += 1
            self._cv.notify()
        return job

    def generate(self, ids: list[int], sampling: Sampling, streamer: Any) -> Job:
        """Sample one job in the calling thread, streaming to ``streamer`` as :meth:`submit` does: a
        single person's chat has nobody to batch with, and handing each token between threads costs
        more than the rest of the turn. Raises what sampling raises (KeyboardInterrupt included)."""
        import torch

        with self._cv:
            job = self._job(ids, sampling, streamer)
            self.submitted += 1
        from soulchat.model.attention import cudnn_attention

        rows = Rows(self.gen)
        with self._model, torch.inference_mode(), cudnn_attention(self.gen.cudnn_attention):
            rows.add([job])
            while rows.jobs:
                self._step(rows)
        return job

    def close(self) -> None:
        """Stop: the running batch ends at its next step (cancelled), waiting jobs are cancelled."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=30)
        for job in [*self._rows.jobs, *self._waiting]:
            job.finish("cancelled")

    def _admit(self) -> list[Job] | None:
        """The waiting jobs that fit in the running batch now (None: stop); waits while there is no work."""
        rows = self._rows
        with self._cv:
            while not self._waiting and not rows.jobs and not self._stop:
                self._cv.wait()
            if self._stop:
                return None
            room = self.max_batch_size - sum(not j.done.is_set() for j in rows.jobs)  # done rows leave
            if room <= 0 or not (rows.joinable() or rows.steps >= self.segment):
                return []
            return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _loop(self) -> None:
        import torch

        from soulchat.model.attention import cudnn_attention

        # cuDNN's attention builds a graph for every new shape, and every decode step is one (as generate)
        with torch.inference_mode(), cudnn_attention(self.gen.cudnn_attention):
            self._serve()

    def _serve(self) -> None:
        while (jobs := self._admit()) is not None:
            live = [j for j in jobs if not j.cancelled]
            for job in jobs:
                if job.cancelled:
                    job.finish("cancelled")
            with self._model:
                if live:
                    try:
                        self._rows.add(live)
                        self.batches.append(len(self._rows.jobs))
                    except Exception as exc:  # a failed prefill fails its jobs, never the server
                        log.exception("prefilling %d jobs failed", len(live))
                        for job in live:
                            job.finish("error", f"{type(exc).__name__}: {exc}")
                if self._rows.jobs:
                    try:
                        self._step(self._rows)
                    except Exception as exc:  # a failed step fails its rows
                        log.exception("sampling a batch of %d failed", len(self._rows.jobs))
                        for job in self._rows.jobs:
                            job.finish("error", f"{type(exc).__name__}: {exc}")
                        self._rows = Rows(self.gen)

    def _step(self, rows: Rows) -> None:
        """Draw every row's token, hand it to its streamer, then drop finished rows and step the rest."""
        eos = self.tokenizer.eos_token_id
        drawn = rows.sample()
        for job, token in zip(rows.jobs, drawn.tolist()):
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
        rows.advance(drawn)
