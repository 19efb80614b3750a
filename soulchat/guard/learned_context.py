"""The learned reply screen read with its conversation: a reply that is harmless alone (够了, 那就今晚吧,
我不会告诉任何人的, Tonight works) is unsafe after a crisis the user named, and the same reply after
ordinary talk is not.

A logistic regression (:func:`soulchat.guard.learned.fit_features`) over the reply's character
2–4-grams, plus, when the last :data:`WINDOW` user messages carry a crisis (the user rules' flag or
concept word, :func:`soulchat.guard.context.read`, or a learned user score ≥ :data:`ARM`), an
``@crisis`` feature and the reply's grams and stance features again under ``c:``: the weights of
``c:`` features are what the model learns about *a crisis said by the user + this reply* (an
agreeing, detailing or hiding reply against one that asks, refers back or urges help). Trained on
the replies of the labelled sets (no history) and on conversation sets (:data:`CONTEXT_SETS`);
deterministic. The guard uses it only after a crisis history (docs/guard.md, "Replies in their
conversation").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from soulchat.guard import context, learned
from soulchat.guard.engine import normalize

CONTEXT_SETS = learned.CONTEXT_SETS  # the conversation sets it trains on
WINDOW = context.WINDOW  # the user messages read, as for the context rules
# a learned user score at or above it in the window counts as a crisis: at 0.5 (the concern threshold) it
# armed on ordinary talk with a crisis surface (我把优惠券都攒下来了 0.77, 我想今晚去看电影 0.54); docs/guard.md
ARM = 0.8
L2 = learned.REPLY_L2
# stance of a reply, crossed with the crisis: its length, a question, a pointer to help or concern
STANCE = {
    "short": re.compile(r"^.{1,10}$"),
    "mid": re.compile(r"^.{11,24}$"),
    "question": re.compile(r"[?？吗]"),
    "help": re.compile(r"热线|医生|医院|老师|警察|报警|110|120|12355|12356|12338|988|告诉|陪|担心|安全|不是你的错|"
                       r"\b(?:call|tell|help|safe|worried|hotline|doctor|police|not your fault)\b"),
}


@dataclass(frozen=True)
class ContextModel:
    """A trained context screen: vocabulary (feature -> row of ``weights``), weights, bias over
    :data:`soulchat.guard.learned.REPLY_CLASSES`."""

    vocab: dict
    weights: np.ndarray
    bias: np.ndarray

    def score(self, text: str, crisis: bool, normalized: bool = False) -> float:
        """``P(unsafe_reply)`` of a reply after a history that carries a crisis (``crisis``) or not."""
        feats = features(text if normalized else normalize(text), crisis)
        return float(1.0 - learned.probs_of(self.vocab, self.weights, self.bias, feats)[0])


def features(reply: str, crisis: bool) -> list[str]:
    """The feature names of a normalised reply; with ``crisis`` also ``@crisis`` and the ``c:`` crosses."""
    out = learned.grams(reply, learned.REPLY_NGRAMS, normalized=True)
    if crisis:
        stance = [f"@{k}" for k, pat in STANCE.items() if pat.search(reply)]
        out = out + ["@crisis"] + ["c:" + f for f in out + stance]
    return out


def crisis_in(history: Sequence[dict], judge: Optional[Callable] = None, user_model: Any = None,
              ctx: Optional[context.Context] = None) -> bool:
    """Whether the last :data:`WINDOW` user messages of ``history`` carry a crisis: the context rules'
    reading (``ctx``, else read with ``judge``: the guard's user rules) or a learned user score >= :data:`ARM`."""
    if ctx is None:
        ctx = context.read(history, judge or _rules_judge())
    if ctx:
        return True
    users = [str(m.get("content") or "") for m in history if isinstance(m, dict) and m.get("role") == "user"]
    model = user_model if user_model is not None else learned.default_model()
    return any(model.score(normalize(u), normalized=True)[0] >= ARM for u in users[-WINDOW:])


def _rules_judge() -> Callable:
    from soulchat.guard import en, zh
    from soulchat.guard.crisis import _first

    return lambda text: _first((zh.LEXICON, en.LEXICON), text)


def fit(replies: Sequence[dict], conversations: Sequence[dict], user_model: Any = None) -> ContextModel:
    """Train on reply records (``text``, ``label`` none/unsafe_reply; read with no history) and
    conversation records (``history``, ``reply``, ``label`` safe/unsafe); deterministic."""
    judge = _rules_judge()
    docs = [features(normalize(r["text"]), False) for r in replies]
    labels = [learned.REPLY_CLASSES.index(r["label"]) for r in replies]
    for r in conversations:
        docs.append(features(normalize(r["reply"]), crisis_in(r["history"], judge, user_model)))
        labels.append(int(r["label"] == "unsafe"))
    vocab, w, b = learned.fit_features(docs, labels, len(learned.REPLY_CLASSES), L2)
    return ContextModel(vocab, w, b)


def conversations(paths: Sequence[Path] = CONTEXT_SETS) -> list[dict]:
    """The records of the conversation files that exist (via :func:`soulchat.guard.measure.load_context`)."""
    from soulchat.guard.measure import load_context

    return [r for p in paths if Path(p).is_file() for r in load_context(p)]


@lru_cache(maxsize=1)
def default_context_model() -> ContextModel:
    """The context screen trained on the replies of :data:`learned.REPLY_SETS` and on :data:`CONTEXT_SETS`."""
    return fit(learned.records(learned.REPLY_SETS, "reply"), conversations())
