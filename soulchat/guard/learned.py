"""The learned screen behind the ``crisis`` rules: multinomial logistic regression on character
1–4-grams of the normalised message, trained when the guard is built (once per process) on the
labelled sets (``soulchat/data/guard/*.jsonl``, user messages only), deterministically: torch's
sparse products for training, numpy for scoring.

A message's score is ``1 - P(none)``; its category is the likeliest crisis class. The crisis guard
turns a score at or above its threshold into a *concern* when the rules let the message through
(docs/guard.md, "The learned screen"). :data:`DATA_SHA256` pins the training files so that a change
to them changes this module, and with it every cache key that covers the guard's code.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from soulchat.config import DATA_DIR
from soulchat.guard.engine import normalize

#: the training files, in a fixed order (every labelled set; ``learned.jsonl`` is training-only)
SETS = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in (
    "labelled", "heldout", "heldout2", "heldout3", "paraphrase", "paraphrase2", "independent", "learned"))
#: :func:`data_sha256` of :data:`SETS` when this module was last checked against them
#: (tests/guard/test_learned.py): edit a set, then update this, so that cache keys change with it
DATA_SHA256 = "d09a3bbd2b93e12a"
#: the classes, ``none`` first; the rest are the user categories of :data:`soulchat.guard.CATEGORIES`
CLASSES = ("none", "suicide", "self_harm", "harm_others", "abuse")
NGRAMS = (1, 2, 3, 4)
MIN_DF = 2  # an n-gram seen in one record only cannot generalise; dropping it keeps training fast
L2 = 3e-5  # weight decay; larger smooths the scores toward the class prior (chosen by leave-one-set-out AUC)
STEPS = 150  # full-batch Adam steps (about 0.2 s of one core on the sets)
LEARNING_RATE = 0.1


def grams(text: str) -> list[str]:
    """The distinct character n-grams of ``normalize(text)``, with ``^``/``$`` marking its ends."""
    t = f"^{normalize(text)}$"
    return sorted({t[i:i + n] for n in NGRAMS for i in range(len(t) - n + 1)})


@dataclass(frozen=True)
class Model:
    """A trained screen: its vocabulary (n-gram -> row of ``weights``), weights and bias."""

    vocab: dict
    weights: np.ndarray  # (len(vocab), len(CLASSES))
    bias: np.ndarray  # (len(CLASSES),)

    def probs(self, text: str) -> np.ndarray:
        """Class probabilities (in :data:`CLASSES` order) for one message."""
        rows = [self.vocab[g] for g in grams(text) if g in self.vocab]
        z = self.bias + (self.weights[rows].sum(0) / np.sqrt(max(len(rows), 1)) if rows else 0.0)
        e = np.exp(z - z.max())
        return e / e.sum()

    def score(self, text: str) -> tuple[float, str]:
        """``(1 - P(none), likeliest crisis category)`` for one message."""
        p = self.probs(text)
        return float(1.0 - p[0]), CLASSES[1 + int(np.argmax(p[1:]))]

    def top_grams(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` n-grams of ``text`` that push its score up the most (for reading a decision)."""
        w = {g: float(self.weights[self.vocab[g], 1:].max() - self.weights[self.vocab[g], 0])
             for g in grams(text) if g in self.vocab}
        return sorted(w.items(), key=lambda kv: -kv[1])[:k]


def fit(texts: Sequence[str], labels: Sequence[str]) -> Model:
    """Train on ``texts`` with ``labels`` (members of :data:`CLASSES`); deterministic.

    Raises:
        ValueError: an unknown label, or no records.
    """
    if not texts or len(texts) != len(labels):
        raise ValueError(f"fit needs as many labels as texts, and some: {len(texts)} texts, {len(labels)} labels")
    bad = sorted({lab for lab in labels if lab not in CLASSES})
    if bad:
        raise ValueError(f"labels {bad} are not among {CLASSES}")
    docs = [grams(t) for t in texts]
    df = Counter(g for d in docs for g in d)
    vocab = {g: i for i, g in enumerate(sorted(g for g, c in df.items() if c >= MIN_DF))}
    rows = [[vocab[g] for g in d if g in vocab] for d in docs]
    w, b = _adam(rows, [CLASSES.index(lab) for lab in labels], len(vocab))
    return Model(vocab, w, b)


def _adam(rows: list[list[int]], classes: list[int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias by full-batch Adam on the mean cross-entropy plus L2; ``rows``: each record's
    feature indices (each record scaled to unit length)."""
    import torch

    lens = torch.tensor([len(r) for r in rows])
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lens, 0)])
    col = torch.tensor([i for r in rows for i in r], dtype=torch.long)
    val = torch.repeat_interleave(1.0 / lens.clamp(min=1).double().sqrt(), lens)
    y = torch.nn.functional.one_hot(torch.tensor(classes), len(CLASSES)).double()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # products this small run several times slower split over threads
    try:
        with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all it is used for
            warnings.simplefilter("ignore", UserWarning)
            x = torch.sparse_csr_tensor(crow, col, val, (len(rows), width))
            xt = x.to_sparse_coo().t().coalesce().to_sparse_csr()
            w = torch.zeros(width, len(CLASSES), dtype=torch.float64)
            b = torch.log(y.mean(0) + 1e-3)
            m, v = torch.zeros_like(w), torch.zeros_like(w)
            for step in range(1, STEPS + 1):
                d = (torch.softmax(x @ w + b, 1) - y) / len(rows)
                g = xt @ d + L2 * w
                b -= LEARNING_RATE * d.sum(0)
                m.mul_(0.9).add_(0.1 * g)
                v.mul_(0.999).add_(0.001 * g * g)
                w -= LEARNING_RATE * (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8)
    finally:
        torch.set_num_threads(threads)
    return w.numpy(), b.numpy()


def records(paths: Iterable[Path]) -> list[dict]:
    """The user messages of labelled files (via :func:`soulchat.guard.measure.load`)."""
    from soulchat.guard.measure import load

    return [r for p in paths if Path(p).is_file() for r in load(p) if r["role"] == "user"]


def fit_records(rows: Sequence[dict]) -> Model:
    """Train on labelled records (``text``, ``label``); replies are for the reply rules, not this."""
    return fit([r["text"] for r in rows], [r["label"] for r in rows])


def data_sha256(paths: Iterable[Path] = SETS) -> str:
    """SHA-256 over the names and bytes of the training files that exist."""
    h = hashlib.sha256()
    for p in paths:
        if Path(p).is_file():
            h.update(f"{Path(p).name}\0".encode())
            h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The screen trained on :data:`SETS`, once per process."""
    return fit_records(records(SETS))
