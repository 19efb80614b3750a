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

#: the training-only files: user messages (``learned``) and model replies (``learned_replies``)
TRAINING_ONLY = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in ("learned", "learned_replies"))
#: the training files of the user screen, in a fixed order: the labelled sets, then :data:`TRAINING_ONLY`
SETS = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in (
    "labelled", "heldout", "heldout2", "heldout3", "paraphrase", "paraphrase2", "independent")) + TRAINING_ONLY
#: the reply screen's: also ``independent2`` (its user messages, trained on, raise concerns on templated
#: ordinary talk such as 我真的很担心自己会一直这样, so the user screen leaves them out for now)
REPLY_SETS = SETS + (DATA_DIR / "guard" / "independent2.jsonl",)
#: the conversation sets (``{"history", "reply", "label"}``) the context screen also trains on (:mod:`.learned_context`)
CONTEXT_SETS = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in ("replies_context", "replies_context2"))
#: :func:`data_sha256` of the reply and conversation sets when this module was last checked against them
#: (tests/guard/test_learned.py): edit a set, then update this, so that cache keys change with it
DATA_SHA256 = "ae2ac1a724e08acc"
#: the classes, ``none`` first; the rest are the user categories of :data:`soulchat.guard.CATEGORIES`
CLASSES = ("none", "suicide", "self_harm", "harm_others", "abuse")
#: the classes of the reply screen (a model's reply is unsafe or not)
REPLY_CLASSES = ("none", "unsafe_reply")
NGRAMS = (1, 2, 3, 4)
MIN_DF = 2  # an n-gram seen in one record only cannot generalise; dropping it keeps training fast
L2 = 3e-5  # weight decay; larger smooths the scores toward the class prior (chosen by leave-one-set-out AUC)
STEPS = 150  # full-batch Adam steps (about 0.2 s of one core on the sets)
LEARNING_RATE = 0.1
# the reply screen: fewer, differently styled records; without 1-grams and with more decay it leans on
# phrases, not on common characters (他, 了), and lets safe replies that name suicide through
# (chosen by leave-one-set-out on the sets' replies, the demo corpus's answers and tests/guard's hard safe replies)
REPLY_NGRAMS = (2, 3, 4)
REPLY_L2 = 1e-3


def grams(text: str, ngrams: tuple = NGRAMS, normalized: bool = False) -> list[str]:
    """The distinct character n-grams of ``normalize(text)`` (``text`` itself when ``normalized``),
    with ``^``/``$`` marking its ends."""
    t = f"^{text if normalized else normalize(text)}$"
    return sorted({t[i:i + n] for n in ngrams for i in range(len(t) - n + 1)})


def probs_of(vocab: dict, weights: np.ndarray, bias: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """Class probabilities of a document's feature names (the unknown ones ignored)."""
    rows = [vocab[f] for f in features if f in vocab]
    z = bias + (weights[rows].sum(0) / np.sqrt(max(len(rows), 1)) if rows else 0.0)
    e = np.exp(z - z.max())
    return e / e.sum()


@dataclass(frozen=True)
class Model:
    """A trained screen: its vocabulary (n-gram -> row of ``weights``), weights, bias and classes."""

    vocab: dict
    weights: np.ndarray  # (len(vocab), len(classes))
    bias: np.ndarray  # (len(classes),)
    classes: tuple = CLASSES  # ``none`` first
    ngrams: tuple = NGRAMS

    def probs(self, text: str, normalized: bool = False) -> np.ndarray:
        """Class probabilities (in ``classes`` order) for one message (already normalised: ``normalized``)."""
        return probs_of(self.vocab, self.weights, self.bias, grams(text, self.ngrams, normalized))

    def score(self, text: str, normalized: bool = False) -> tuple[float, str]:
        """``(1 - P(none), likeliest crisis category)`` for one message."""
        p = self.probs(text, normalized)
        return float(1.0 - p[0]), self.classes[1 + int(np.argmax(p[1:]))]

    def top_grams(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` n-grams of ``text`` that push its score up the most (for reading a decision)."""
        w = {g: float(self.weights[self.vocab[g], 1:].max() - self.weights[self.vocab[g], 0])
             for g in grams(text, self.ngrams) if g in self.vocab}
        return sorted(w.items(), key=lambda kv: -kv[1])[:k]


def fit(texts: Sequence[str], labels: Sequence[str], classes: tuple = CLASSES, ngrams: tuple = NGRAMS,
        l2: float = L2) -> Model:
    """Train on ``texts`` with ``labels`` (members of ``classes``, ``none`` first); deterministic.

    Raises:
        ValueError: an unknown label, or no records.
    """
    if not texts or len(texts) != len(labels):
        raise ValueError(f"fit needs as many labels as texts, and some: {len(texts)} texts, {len(labels)} labels")
    bad = sorted({lab for lab in labels if lab not in classes})
    if bad:
        raise ValueError(f"labels {bad} are not among {classes}")
    vocab, w, b = fit_features([grams(t, ngrams) for t in texts], [classes.index(lab) for lab in labels], len(classes), l2)
    return Model(vocab, w, b, tuple(classes), tuple(ngrams))


def fit_features(docs: Sequence[Sequence[str]], classes: Sequence[int], k: int, l2: float) -> tuple[dict, np.ndarray, np.ndarray]:
    """``(vocab, weights, bias)`` of a ``k``-class regression on records given as feature names
    (each record scaled to unit length; a feature in fewer than :data:`MIN_DF` records is dropped)."""
    df = Counter(g for d in docs for g in set(d))
    vocab = {g: i for i, g in enumerate(sorted(g for g, c in df.items() if c >= MIN_DF))}
    rows = [sorted({vocab[g] for g in d if g in vocab}) for d in docs]
    w, b = _adam(rows, list(classes), len(vocab), k, l2)
    return vocab, w, b


def _adam(rows: list[list[int]], classes: list[int], width: int, k: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias by full-batch Adam on the mean cross-entropy plus L2; ``rows``: each record's
    feature indices (each record scaled to unit length)."""
    import torch

    lens = torch.tensor([len(r) for r in rows])
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lens, 0)])
    col = torch.tensor([i for r in rows for i in r], dtype=torch.long)
    val = torch.repeat_interleave(1.0 / lens.clamp(min=1).double().sqrt(), lens)
    y = torch.nn.functional.one_hot(torch.tensor(classes), k).double()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # products this small run several times slower split over threads
    try:
        with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all it is used for
            warnings.simplefilter("ignore", UserWarning)
            x = torch.sparse_csr_tensor(crow, col, val, (len(rows), width))
            xt = x.to_sparse_coo().t().coalesce().to_sparse_csr()
            w = torch.zeros(width, k, dtype=torch.float64)
            b = torch.log(y.mean(0) + 1e-3)
            m, v = torch.zeros_like(w), torch.zeros_like(w)
            for step in range(1, STEPS + 1):
                d = (torch.softmax(x @ w + b, 1) - y) / len(rows)
                g = xt @ d + l2 * w
                b -= LEARNING_RATE * d.sum(0)
                m.mul_(0.9).add_(0.1 * g)
                v.mul_(0.999).add_(0.001 * g * g)
                w -= LEARNING_RATE * (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8)
    finally:
        torch.set_num_threads(threads)
    return w.numpy(), b.numpy()


def records(paths: Iterable[Path], role: str = "user") -> list[dict]:
    """The records of labelled files with ``role`` (``user`` or ``reply``; via :func:`soulchat.guard.measure.load`)."""
    return [r for p in paths if Path(p).is_file() for r in _loaded(str(p)) if r["role"] == role]


@lru_cache(maxsize=None)
def _loaded(path: str) -> tuple[dict, ...]:
    """A labelled file's records, read once per process (the user and reply screens share the files)."""
    from soulchat.guard.measure import load

    return tuple(load(path))


def fit_records(rows: Sequence[dict]) -> Model:
    """The user screen, trained on labelled user records (``text``, ``label``)."""
    return fit([r["text"] for r in rows], [r["label"] for r in rows])


def fit_replies(rows: Sequence[dict]) -> Model:
    """The reply screen (:data:`REPLY_CLASSES`), trained on labelled reply records."""
    return fit([r["text"] for r in rows], [r["label"] for r in rows], REPLY_CLASSES, REPLY_NGRAMS, REPLY_L2)


def data_sha256(paths: Iterable[Path] = REPLY_SETS + CONTEXT_SETS) -> str:
    """SHA-256 over the names and bytes of the training files that exist."""
    h = hashlib.sha256()
    for p in paths:
        if Path(p).is_file():
            h.update(f"{Path(p).name}\0".encode())
            h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The user screen trained on :data:`SETS`, once per process."""
    return fit_records(records(SETS))


@lru_cache(maxsize=1)
def default_reply_model() -> Model:
    """The reply screen trained on the replies of :data:`REPLY_SETS`, once per process."""
    return fit_replies(records(REPLY_SETS, "reply"))
