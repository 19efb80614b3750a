"""The ``metric_set`` components: torchmetrics Metrics that return ``dict[str, float]``.

Each set accumulates per batch (``update(predictions, references)``) in tensor states that are
summed across processes, and ``compute()`` returns plain floats:

- ``paper`` (default): BLEU-1..4 = NLTK sentence BLEU on characters, cumulative weights, smoothing
  method 3, averaged over samples; ROUGE-1/2/L = rouge_chinese F1 on jieba words, averaged; 0–100.
  ChatGLM-6B's p-tuning evaluation extended to BLEU-1..3. An empty prediction scores 0 (the
  reference libraries raise on it).
- ``chatglm``: exactly ChatGLM-6B ``ptuning/main.py``: bleu-4 and rouge-1/2/l, each sample's score
  rounded to 4 decimals (0–100) before averaging.
- ``emollm``: EmoLLM ``evaluate/metric.py``'s BLEU-1..4: spaces removed, jieba words, smoothing
  method 1.
- ``sacrebleu_zh``: sacreBLEU corpus BLEU with its ``zh`` tokenizer.
- ``diversity``: Distinct-1/2 on characters and on jieba words (corpus level), mean reply length.
- ``empathy``: rates (%) of the expressions in :mod:`soulchat.evaluate.empathy`.

All are implemented here (:mod:`.bleu`, :mod:`.rouge`, :mod:`.text`); the reference libraries are
used only by the tests, which check equality to 1e-6.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torchmetrics import Metric

from soulchat.evaluate import bleu, empathy, rouge
from soulchat.evaluate.contracts import Columns
from soulchat.evaluate.text import rouge_words, words

PAPER_KEYS = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l")


def _check(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    for i, (p, r) in enumerate(zip(predictions, references)):
        if not isinstance(p, str) or not isinstance(r, str):
            raise TypeError(f"sample {i}: prediction and reference must be str, got "
                            f"{type(p).__name__} and {type(r).__name__}")


class SampleMean(Metric):
    """Per-sample scores averaged over samples; the sums and the count are synced (summed)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, keys: Sequence[str], rows: Callable[[Sequence[str], Sequence[str]], list], **kwargs):
        super().__init__(**kwargs)
        self.keys = tuple(keys)
        self.rows = rows
        self.add_state("total", default=torch.zeros(len(self.keys), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[str], references: Sequence[str]) -> None:
        _check(predictions, references)
        if not predictions:
            return
        rows = torch.tensor(self.rows(predictions, references), dtype=torch.float64)
        self.total += rows.sum(0)
        self.count += len(predictions)

    def compute(self) -> dict[str, float]:
        n = float(self.count)
        return {k: (float(v) / n if n else 0.0) for k, v in zip(self.keys, self.total.tolist())}


def _rouge(prediction: str, reference: str) -> tuple[float, float, float]:
    return rouge.rouge_f(rouge_words(words(prediction)), rouge_words(words(reference)))


def paper_rows(predictions: Sequence[str], references: Sequence[str]) -> list[list[float]]:
    """Per-sample ``paper`` scores (0–100), in :data:`PAPER_KEYS` order."""
    correct, total = bleu.char_matches(predictions, references)
    return [
        [100.0 * x for x in (*bleu.sentence_bleu(p, r, 3, counts=(c, t)), *_rouge(p, r))]
        for p, r, c, t in zip(predictions, references, correct, total)
    ]


def chatglm_rows(predictions: Sequence[str], references: Sequence[str]) -> list[list[float]]:
    """ChatGLM-6B's per-sample scores: bleu-4 (chars, method 3), rouge-1/2/l, rounded like it."""
    correct, total = bleu.char_matches(predictions, references)
    return [
        [round(x * 100, 4) for x in (*bleu.sentence_bleu(p, r, 3, (bleu.CUMULATIVE[3],), (c, t)), *_rouge(p, r))]
        for p, r, c, t in zip(predictions, references, correct, total)
    ]


def _emollm_tokens(text: str) -> list[str]:
    return " ".join(words(text.replace(" ", ""))).split(" ")


def emollm_rows(predictions: Sequence[str], references: Sequence[str]) -> list[list[float]]:
    return [[100.0 * x for x in bleu.sentence_bleu(_emollm_tokens(p), _emollm_tokens(r), smoothing=1)]
            for p, r in zip(predictions, references)]


class CorpusBleu(Metric):
    """``sacrebleu_zh``: sacreBLEU's own corpus BLEU with its ``zh`` tokenizer, over every pair given."""

    full_state_update = False
    higher_is_better = True
    columns = Columns({"sacrebleu": "sacreBLEU"}, panel="Automatic (0-100)", ranked=True)

    def __init__(self, cfg: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_state("hyps", default=[], dist_reduce_fx=None)
        self.add_state("refs", default=[], dist_reduce_fx=None)

    def update(self, predictions: Sequence[str], references: Sequence[str]) -> None:
        _check(predictions, references)
        self.hyps.extend(predictions)
        self.refs.extend(references)

    def compute(self) -> dict[str, float]:
        from sacrebleu.metrics import BLEU

        return {"sacrebleu": BLEU(tokenize="zh").corpus_score(list(self.hyps), [list(self.refs)]).score}


class Diversity(Metric):
    """``diversity``: Distinct-1/2 (distinct n-grams / all n-grams over every reply) on characters and on jieba
    words, and the mean reply length in characters. References are not used.

    The replies themselves are the state (UTF-8 bytes, concatenated across processes), because
    distinct counts cannot be summed.
    """

    full_state_update = False
    higher_is_better = True
    columns = Columns({"distinct-1": "D-1", "distinct-2": "D-2", "distinct-1-words": "D-1w",
                       "distinct-2-words": "D-2w", "length": "Len."})

    def __init__(self, cfg: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_state("blobs", default=[], dist_reduce_fx="cat")

    def update(self, predictions: Sequence[str], references: Sequence[str] | None = None) -> None:
        if references is not None:
            _check(predictions, references)
        if predictions:
            blob = "".join(p.replace("\0", " ") + "\0" for p in predictions).encode("utf-8")
            self.blobs.append(torch.frombuffer(bytearray(blob), dtype=torch.uint8))

    def compute(self) -> dict[str, float]:
        data = self.blobs if isinstance(self.blobs, torch.Tensor) else (
            torch.cat(self.blobs) if self.blobs else torch.zeros(0, dtype=torch.uint8))
        replies = bytes(data.tolist()).decode("utf-8").split("\0")[:-1]
        out = {}
        for unit, seqs in (("", replies), ("-words", [words(r) for r in replies])):
            for n in (1, 2):
                grams = [tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1)]
                out[f"distinct-{n}{unit}"] = 100.0 * len(set(grams)) / len(grams) if grams else 0.0
        out["length"] = sum(map(len, replies)) / len(replies) if replies else 0.0
        return out


def _empathy_rows(predictions: Sequence[str], references: Sequence[str]) -> list[list[float]]:
    return [[100.0 * x for x in empathy.indicators(p)] for p in predictions]


# ---- the metric sets (one registry row each, soulchat/evaluate/components.py) ------------------

#: Table 1's automatic metrics, 0-100, ranked (the paper bolds the best)
AUTOMATIC = Columns({"bleu-1": "B-1", "bleu-2": "B-2", "bleu-3": "B-3", "bleu-4": "B-4",
                     "rouge-1": "R-1", "rouge-2": "R-2", "rouge-l": "R-L"}, panel="Automatic (0-100)", ranked=True)


class Paper(SampleMean):
    """``paper``: BLEU-1..4 (chars, method 3) + ROUGE-1/2/L (jieba), sample means."""

    columns = AUTOMATIC

    def __init__(self, cfg: Any = None):
        super().__init__(PAPER_KEYS, paper_rows)


class ChatGLM(SampleMean):
    """``chatglm``: ChatGLM-6B p-tuning's bleu-4, rouge-1/2/l (per-sample rounding)."""

    columns = AUTOMATIC

    def __init__(self, cfg: Any = None):
        super().__init__(("bleu-4", "rouge-1", "rouge-2", "rouge-l"), chatglm_rows)


class EmoLLM(SampleMean):
    """``emollm``: EmoLLM's BLEU-1..4 on jieba words, smoothing method 1."""

    columns = AUTOMATIC

    def __init__(self, cfg: Any = None):
        super().__init__(PAPER_KEYS[:4], emollm_rows)


class EmpathyRates(SampleMean):
    """``empathy``: rates (%) of the paper's empathy expressions, questions and advice lists."""

    columns = Columns({"questioning": "Ques.%", "comfort": "Comf.%", "recognition": "Recog.%",
                       "listening": "List.%", "trust": "Trust%", "emotional-support": "Supp.%",
                       "interpretation": "Interp.%", "question-rate": "?%", "advice-list": "Advice%"},
                      panel="Empathy lexicon (% of replies)")

    def __init__(self, cfg: Any = None):
        super().__init__(empathy.KEYS, _empathy_rows)
