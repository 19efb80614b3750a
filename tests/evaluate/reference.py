"""The reference computations (nltk, rouge_chinese, jieba, sacrebleu) the metric sets must equal."""

import jieba
import numpy as np
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

CUMULATIVE = [(1.0, 0.0, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0), (1 / 3, 1 / 3, 1 / 3, 0.0), (0.25, 0.25, 0.25, 0.25)]


def _rouge(pred, ref):
    """rouge_chinese on jieba words; None where rouge_chinese raises (empty side)."""
    try:
        return Rouge().get_scores(" ".join(jieba.cut(pred)), " ".join(jieba.cut(ref)))[0]
    except ValueError:
        return None


def paper(preds, refs):
    rows = []
    for p, r in zip(preds, refs):
        b = sentence_bleu([list(r)], list(p), weights=CUMULATIVE, smoothing_function=SmoothingFunction().method3)
        s = _rouge(p, r)
        ro = [s[k]["f"] for k in ("rouge-1", "rouge-2", "rouge-l")] if s else [0.0] * 3
        rows.append([100 * x for x in (*b, *ro)])
    keys = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l")
    return dict(zip(keys, np.mean(rows, axis=0).tolist()))


def chatglm(preds, refs):
    """ChatGLM-6B ptuning/main.py compute_metrics, on decoded strings."""
    d = {"rouge-1": [], "rouge-2": [], "rouge-l": [], "bleu-4": []}
    for pred, label in zip(preds, refs):
        s = _rouge(pred, label)
        for k in ("rouge-1", "rouge-2", "rouge-l"):
            d[k].append(round(s[k]["f"] * 100, 4) if s else 0.0)
        b = sentence_bleu([list(label)], list(pred), smoothing_function=SmoothingFunction().method3)
        d["bleu-4"].append(round(b * 100, 4))
    return {k: float(np.mean(v)) for k, v in d.items()}


def emollm(preds, refs):
    """EmoLLM evaluate/metric.py's BLEU part."""
    hyps = [" ".join(jieba.cut(p.replace(" ", ""))) for p in preds]
    labels = [" ".join(jieba.cut(r.replace(" ", ""))) for r in refs]
    w = [(1.0, 0.0, 0.0, 0.0), (1 / 2, 1 / 2), (1 / 3, 1 / 3, 1 / 3), (1 / 4, 1 / 4, 1 / 4, 1 / 4)]
    total = np.zeros(4)
    for h, lab in zip(hyps, labels):
        total += np.array(sentence_bleu([lab.split(" ")], h.split(" "), weights=w,
                                        smoothing_function=SmoothingFunction().method1))
    total /= len(hyps)
    return {f"bleu-{i + 1}": 100 * total[i] for i in range(4)}


def sacrebleu_zh(preds, refs):
    import sacrebleu

    return {"sacrebleu": sacrebleu.corpus_bleu(list(preds), [list(refs)], tokenize="zh").score}
