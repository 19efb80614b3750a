"""Expand clean dialogues into tokenised samples, fast.

Every utterance is tokenised exactly once, in large batches (:func:`tokenize_texts`); a dialogue's
sequence is then assembled from those ids and each sample is a slice of it plus the counsellor
prefix and the target (:mod:`soulchat.corpus.format` decides what is kept). Samples stream into
:class:`~soulchat.corpus.samples.SampleWriter` per split, so memory stays flat however large the
corpus is.

Modes (``corpus.mode``):

- ``sample`` (the paper's): one sample per counsellor reply, input = the kept history, target = the
  reply + eos. Truncation drops the oldest whole turns (``history_cut``); when the newest user
  message alone exceeds ``max_input_tokens`` its last tokens are kept (``input_cut``), and a reply
  over ``max_target_tokens`` is cut, eos kept (``target_cut``), as the paper's ``max_source_length``
  / ``max_target_length`` cut rather than drop. Only a reply with no user message before it gives
  no sample (``dropped_overlong``).
- ``dialogue``: one sequence per dialogue with the loss on every counsellor reply and its eos; the
  same supervised targets with far fewer tokens processed. It differs from ``sample`` mode in that
  (1) the history a reply sees contains the eos ids that end earlier replies, (2) the budget is one
  sequence of ``max_input_tokens + max_target_tokens``: a longer dialogue is cut into several
  sequences at turn boundaries and a later piece does not see the earlier one, and
  (3) ``max_history_turns`` does not apply.
"""

from __future__ import annotations

from bisect import bisect_left
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate, chain
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from soulchat.corpus.format import Template, history_start, render_input
from soulchat.corpus.samples import SampleWriter
from soulchat.corpus.split import SPLITS


def tokenize_texts(tokenizer: Any, texts: Sequence[str], batch_size: int = 8192,
                   progress: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise every text once, batched; return ``(flat int32 ids, int64 offsets[n + 1])``.

    ``progress`` is an optional callable receiving the number of texts done in each batch.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    encode = getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)
    lengths = np.zeros(len(texts), dtype=np.int64)
    chunks: list[np.ndarray] = []
    for lo in range(0, len(texts), batch_size):
        batch = list(texts[lo: lo + batch_size])
        if encode is not None:
            lists = [e.ids for e in encode(batch, add_special_tokens=False)]
        else:  # a slow (Python) tokenizer
            lists = tokenizer(batch, add_special_tokens=False)["input_ids"]
        n = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        lengths[lo: lo + len(batch)] = n
        chunks.append(np.fromiter(chain.from_iterable(lists), dtype=np.int32, count=int(n.sum())))
        if progress is not None:
            progress(len(batch))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.int32)), offsets


class BackgroundTokenizer:
    """Tokenise the utterances of dialogues as they arrive, chunk by chunk, in a worker thread.

    The Rust tokenizer releases the GIL, so reading and cleaning the next dialogues (and the
    statistics) run while earlier ones are tokenised. :meth:`contents` then yields each dialogue's
    per-message id arrays in the order the dialogues were added.
    """

    def __init__(self, tokenizer: Any, chunk: int = 2048, progress: Any = None):
        self.tokenizer, self.chunk, self.progress = tokenizer, chunk, progress
        self.next_chunk = max(1, chunk // 8)  # small first chunks: the tokenizer starts sooner
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenise")
        self.pending: list[dict] = []
        self.jobs: list[tuple[Future, list[int]]] = []

    def add(self, d: dict) -> None:
        self.pending.append(d)
        if len(self.pending) >= self.next_chunk:
            self._submit()
            self.next_chunk = min(self.chunk, 2 * self.next_chunk)

    def _submit(self) -> None:
        if self.pending:
            texts = [m["content"] for d in self.pending for m in d["messages"]]
            sizes = [len(d["messages"]) for d in self.pending]
            self.jobs.append((self.pool.submit(tokenize_texts, self.tokenizer, texts, 1 << 14, self.progress), sizes))
            self.pending = []

    def contents(self) -> Iterator[list[np.ndarray]]:
        """Per dialogue, the token ids of each message's content (waits for the worker as needed)."""
        self._submit()
        try:
            for fut, sizes in self.jobs:
                flat, offs = fut.result()
                offs = offs.tolist()  # slicing with Python ints is cheaper than with numpy scalars
                g = 0
                for n in sizes:
                    yield [flat[offs[i]: offs[i + 1]] for i in range(g, g + n)]
                    g += n
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class ExpandResult:
    """What expansion produced: per-split meta, the test split's text samples, counts."""

    meta: dict[str, dict] = field(default_factory=dict)
    test: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def expand(dialogues: Sequence[dict], splits: Sequence[str], tokenizer: Any, cfg: Any, out: Path,
           contents: Iterable[list[np.ndarray]] | None = None) -> ExpandResult:
    """Tokenise and write ``out/samples/<split>/`` for every split; collect test text samples.

    Args:
        dialogues: clean canonical dialogues (user first, counsellor last).
        splits: each dialogue's split.
        tokenizer: from :func:`soulchat.model.tokenizer.get_tokenizer`.
        cfg: the ``corpus`` config section.
        out: the stage folder.
        contents: per dialogue, its messages' content ids (:meth:`BackgroundTokenizer.contents`);
            default: tokenise here.
    """
    mode = getattr(cfg.mode, "value", cfg.mode)
    max_in, max_t, max_hist = int(cfg.max_input_tokens), int(cfg.max_target_tokens), cfg.max_history_turns
    if contents is None:
        bt = BackgroundTokenizer(tokenizer)
        for d in dialogues:
            bt.add(d)
        contents = bt.contents()
    tpl = Template.of(tokenizer)
    U, P, NL = (a.astype(np.int32) for a in (tpl.user, tpl.counsellor, tpl.newline))
    EOS = np.array([tpl.eos], dtype=np.int32)
    n_u, n_p, n_nl = len(U), len(P), len(NL)
    writers = {s: SampleWriter(out / "samples" / s, mode, len(tokenizer), tpl.eos) for s in SPLITS}
    res = ExpandResult(counts={"dialogue_tokens": 0, "dropped_overlong": 0, "input_tokens": 0, "target_tokens": 0,
                               "user_tokens": 0, "counsellor_tokens": 0, "history_cut": 0, "input_cut": 0,
                               "target_cut": 0})
    c = res.counts
    # test inputs seen in training: only training samples whose last input message is also in a
    # test dialogue can match, so just those are keyed (one set lookup per sample)
    test_texts = {m["content"] for d, sp in zip(dialogues, splits) if sp == "test" for m in d["messages"]}
    train_inputs: set[int] = set()
    c["test_inputs_seen_in_train"] = 0
    for d, split, ids in _test_last(dialogues, splits, contents):
        msgs = d["messages"]
        n = len(msgs)
        roles = [m["role"] for m in msgs]
        lengths = [len(x) for x in ids]
        n_user = sum(x for x, r in zip(lengths, roles) if r == "user")
        c["dialogue_tokens"] += sum(lengths)
        c["user_tokens"] += n_user
        c["counsellor_tokens"] += sum(lengths) - n_user
        # segment lengths (speaker + content + newline) in plain Python: numpy costs more for ~12 numbers
        cum = list(accumulate([(n_u if r == "user" else n_p) + k + n_nl for r, k in zip(roles, lengths)], initial=0))
        users = [i for i, r in enumerate(roles) if r == "user"]
        replies = [i for i, r in enumerate(roles) if r == "assistant"]
        starts = [input_start(cum, users, a, n_p, max_in, max_hist) for a in replies]
        if split == "train":
            for a, s in zip(replies, starts):
                if s is not None and msgs[a - 1]["content"] in test_texts:
                    train_inputs.add(hash(tuple(m["content"] for m in msgs[s[0]:a])))
        elif split == "test":  # after every training dialogue (_test_last)
            for k, (a, s) in enumerate(zip(replies, starts)):
                if s is not None:
                    hist = msgs[s[0]:a]
                    if hash(tuple(m["content"] for m in hist)) in train_inputs:  # trained on: not a test
                        c["test_inputs_seen_in_train"] += 1
                        starts[k] = False
                        continue
                    res.test.append({"id": f"{d['id']}#{k}", "dialogue_id": d["id"], "topic": d.get("topic"),
                                     "history": hist, "input": render_input(hist), "reference": msgs[a]["content"]})
        if mode == "sample":
            # the dialogue's sequence is stored once; each sample is a span of it (+ eos on reading):
            # kept history, counsellor prefix and the reply cut to its budget are contiguous there
            w = writers[split]
            base = w.add_sequence([p for i in range(n) for p in (U if roles[i] == "user" else P, ids[i], NL)], cum[-1])
            for a, s in zip(replies, starts):
                if not s:  # no user message before the reply (None), or a test input seen in training
                    c["dropped_overlong"] += s is None
                    continue
                if s[1]:  # the newest user message alone is over the budget: its last tokens are kept
                    first, n_in = base + cum[a] + n_p - max_in, max_in
                    c["input_cut"] += 1
                else:
                    first, n_in = base + cum[s[0]], cum[a] - cum[s[0]] + n_p
                    c["history_cut"] += s[0] > 0
                n_t = min(lengths[a], max_t - 1)  # the reply is cut to the target budget, eos kept
                c["target_cut"] += n_t < lengths[a]
                w.add_span(first, base + cum[a] + n_p + n_t, n_in)
                c["input_tokens"] += n_in
                c["target_tokens"] += n_t + 1
        else:
            _dialogue_sequences(writers[split], roles, ids, (U, P, NL, EOS), max_in, max_t, c)
    extra = {"max_input_tokens": max_in, "max_target_tokens": max_t, "eos_token_id": tpl.eos,
             "pad_token_id": tokenizer.pad_token_id}
    for s, w in writers.items():
        res.meta[s] = w.close(extra)
    return res


def _test_last(dialogues: Sequence[dict], splits: Sequence[str],
               contents: Iterable[list[np.ndarray]]) -> Iterator[tuple[dict, str, list[np.ndarray]]]:
    """``(dialogue, split, ids)`` with the test dialogues last (in their order), so every training
    input is known when the test samples are made."""
    deferred = []
    for item in zip(dialogues, splits, contents):
        if item[1] == "test":
            deferred.append(item)
        else:
            yield item
    yield from deferred


def input_start(cum: list[int], users: list[int], reply: int, prompt_len: int, max_in: int,
                max_hist: int | None) -> tuple[int, bool] | None:
    """``(first kept message, cut)`` of the input for the reply at ``reply``: ``cut`` when even the
    newest user message alone is over ``max_in`` (its last tokens are kept, as
    :func:`~soulchat.corpus.format.encode_input` does at inference); None without a user message."""
    s = history_start(cum, users, reply, prompt_len, max_in, max_hist)
    if s is not None:
        return s, False
    j = bisect_left(users, reply) - 1
    return (users[j], True) if j >= 0 else None


def _dialogue_sequences(w: SampleWriter, roles: list[str], contents: list[np.ndarray],
                        pieces: tuple[np.ndarray, ...], max_in: int, max_t: int, c: dict[str, int]) -> None:
    """Dialogue mode: whole turns, packed into sequences of at most ``max_in + max_t`` tokens."""
    U, P, NL, EOS = pieces
    budget = max_in + max_t
    turns: list[tuple[list[np.ndarray], list[np.ndarray], int]] = []  # (ids pieces, mask pieces, length)
    cur_ids: list[np.ndarray] = []
    cur_mask: list[np.ndarray] = []
    for role, ids in zip(roles, contents):
        if role == "user":
            cur_ids += [U, ids, NL]
            cur_mask.append(np.zeros(len(U) + len(ids) + len(NL), np.uint8))
        else:
            tgt = ids[: max_t - 1 - len(NL)]  # the turn's trailing newline fits the budget too
            c["target_cut"] += len(tgt) < len(ids)
            n_user = sum(len(x) for x in cur_ids)
            if not cur_ids:  # no user message before the reply
                c["dropped_overlong"] += 1
            else:
                if n_user + len(P) > max_in:  # the user's part keeps its last tokens, as in sample mode
                    n_user = max_in - len(P)
                    joined = np.concatenate(cur_ids)
                    cur_ids = [joined[len(joined) - n_user:]]
                    cur_mask = [np.zeros(n_user, np.uint8)]
                    c["input_cut"] += 1
                cur_ids += [P, tgt, EOS, NL]
                cur_mask += [np.zeros(len(P), np.uint8), np.ones(len(tgt) + 1, np.uint8), np.zeros(len(NL), np.uint8)]
                turns.append((cur_ids, cur_mask, n_user + len(P) + len(tgt) + 1 + len(NL)))
                c["input_tokens"] += n_user + len(P)
                c["target_tokens"] += len(tgt) + 1
            cur_ids, cur_mask = [], []
    seq_ids: list[np.ndarray] = []
    seq_mask: list[np.ndarray] = []
    length = 0
    for ids, mask, n in turns:
        if length and length + n > budget:
            w.add(seq_ids, length, mask=seq_mask)
            seq_ids, seq_mask, length = [], [], 0
        seq_ids += ids
        seq_mask += mask
        length += n
    if length:
        w.add(seq_ids, length, mask=seq_mask)
