"""Corpus statistics, tables and charts (the paper's Figures 3 and 4).

- :func:`dialogue_stats`: dialogues, turns, lengths in characters (JSON-ready);
- :func:`word_frequencies`: counsellor words segmented with jieba (an even sample of utterances);
- :func:`write_charts`: ``topics.png`` and ``words.png``;
- :func:`corpus_stats`: everything ``stats.json`` holds;
- :func:`write_report`: ``report.md`` (filter table like the paper's "removed 105,134 low-quality
  samples", topic table, word table), ``topics.png`` and ``words.png``.

Charts use a CJK font when one is installed (the ``noto-cjk-sans-otc`` package, or a system font such
as WenQuanYi); without one they fall back to the English topic names and numbered word bars (the
words are in the tables), so a missing font never fails a run.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from soulchat.corpus.split import SPLITS, opening

log = logging.getLogger(__name__)

STOPWORDS = set(
    "我们 你们 他们 她们 自己 一个 一些 一下 一点 这个 那个 这样 那样 这些 那些 什么 怎么 怎么样 为什么 如何 因为 所以 但是 "
    "可是 而且 并且 或者 如果 虽然 然后 还是 就是 只是 不是 没有 可以 可能 应该 需要 能够 已经 非常 真的 其实 时候 现在 "
    "这种 那种 有些 有点 一直 还有 通过 进行 这是 那么 以及 并不 也许 然而 同时 首先 其次 另外 比如 例如 对于 关于 方面".split()
)


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {"count": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"count": int(a.size), "mean": round(float(a.mean()), 2), "min": float(a.min()),
            "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def dialogue_stats(dialogues: Sequence[dict]) -> dict[str, Any]:
    """Messages, turns and utterance lengths (characters) of the clean dialogues."""
    user_chars, coun_chars, messages, turns = [], [], [], []
    for d in dialogues:
        msgs = d["messages"]
        messages.append(len(msgs))
        turns.append(sum(m["role"] == "assistant" for m in msgs))
        for m in msgs:
            (user_chars if m["role"] == "user" else coun_chars).append(len(m["content"]))
    return {"dialogues": len(dialogues), "messages": _summary(messages), "turns": _summary(turns),
            "user_chars": _summary(user_chars), "counsellor_chars": _summary(coun_chars),
            "total_chars": int(sum(user_chars) + sum(coun_chars))}


def word_frequencies(dialogues: Sequence[dict], max_utterances: int, top: int) -> list[tuple[str, int]]:
    """Most frequent words (2+ characters, CJK, not stop words) in counsellor utterances (jieba)."""
    if top <= 0:
        return []
    from soulchat.segment import jieba

    jb = jieba()
    utts = [m["content"] for d in dialogues for m in d["messages"] if m["role"] == "assistant"]
    if len(utts) > max_utterances > 0:  # an even, deterministic sample
        step = len(utts) / max_utterances
        utts = [utts[int(i * step)] for i in range(max_utterances)]
    counts: Counter[str] = Counter()
    for u in utts:
        counts.update(w for w in jb.lcut(u, HMM=False) if len(w) > 1 and "\u4e00" <= w[0] <= "\u9fff" and w not in STOPWORDS)
    return counts.most_common(top)


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of a CJK-capable font matplotlib can use, or None."""
    from soulchat.plotting import pyplot

    pyplot()
    from matplotlib import font_manager as fm

    try:
        import noto_cjk_sans_otc

        fm.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    except Exception:  # the font package is optional
        pass
    names = [f.name for f in fm.fontManager.ttflist]
    for want in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Source Han Sans SC",
                 "SimHei", "Microsoft YaHei", "PingFang SC", "Noto Sans CJK JP"):
        if want in names:
            return want
    return next((n for n in names if "CJK" in n), None)


def _barh(path: Path, labels: list[str], values: list[int], title: str, font: str | None) -> None:
    from soulchat.plotting import pyplot

    plt = pyplot()

    with plt.rc_context({"font.sans-serif": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                         "font.family": "sans-serif", "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=(8, max(3, 0.32 * len(labels) + 1)))
        ax.barh(range(len(values)), values, color="#4C72B0")
        ax.set_yticks(range(len(values)), labels)
        ax.invert_yaxis()
        ax.set_title(title)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v}", va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def write_charts(out: Path, topics: dict[str, int], words: list[tuple[str, int]],
                 topic_names: dict[str, str]) -> list[Path]:
    """Draw topics.png (Figure 3) and words.png (Figure 4); return the files written.

    The stage draws them as soon as topics and words are known, while the tokenizer is still busy.
    """
    font = cjk_font()
    if font is None:
        log.warning("no CJK font found (pip install noto-cjk-sans-otc): charts use English / numbered labels")
    items = list(topics.items())
    labels = [f"{t} {topic_names.get(t, t)}" if font else topic_names.get(t, t) for t, _ in items]
    _barh(out / "topics.png", labels, [n for _, n in items], "Counselling topics (dialogues)", font)
    words = words[:30]
    _barh(out / "words.png", [w if font else f"#{i + 1}" for i, (w, _) in enumerate(words)],
          [n for _, n in words], "Counsellor words" + ("" if font else " (see report.md for the words)"), font)
    return [out / "topics.png", out / "words.png"]


def _budget_and_overlap(stats: dict[str, Any]) -> list[str]:
    """Report lines on the token budgets (what was cut or dropped) and on test/train overlap."""
    parts = []
    b, o = stats.get("budgets"), stats.get("overlap")
    if b:
        hist = "all" if b["max_history_turns"] is None else b["max_history_turns"]
        parts += ["## Budgets", "",
                  f"Input {b['max_input_tokens']} tokens (earlier turns kept: {hist}), target "
                  f"{b['max_target_tokens']} tokens with eos; of {b['samples']} samples:", "",
                  md_table(["what", "samples"], [
                      ["input without its oldest turns", b["history_cut"]],
                      ["input cut inside the newest user message (its last tokens kept)", b["input_cut"]],
                      ["target cut to the budget", b["target_cut"]],
                      ["dropped (no user message before the reply)", b["dropped"]]]), ""]
    if o:
        parts += ["## Test / train overlap", "",
                  f"Split by source group (a question's dialogues share a split): {o['test_openings_in_train']} of "
                  f"{o['test_dialogues']} test dialogues open with a training dialogue's user message; "
                  f"{o['test_inputs_seen_in_train']} test inputs identical to a training input (histories cut "
                  f"to the budget) were left out, {o['test_inputs']} remain.", ""]
    return parts


def write_report(out: Path, stats: dict[str, Any], topic_names: dict[str, str], charts: bool,
                 chart_files: list[Path] | None = None) -> list[Path]:
    """Write report.md (and topics.png, words.png when ``charts``, unless ``chart_files`` says they
    are drawn already); return the files written."""
    filt = stats["filters"]
    read = stats["read"]
    cleaned = read.get("cleaned", {})
    removed = sum(f["rejected"] for f in filt) + cleaned.get("empty_dialogues", 0)
    removed_samples = sum(f["rejected_samples"] for f in filt)
    empty_row = [["empty utterances (read)", read["records"] - read["errors"], cleaned["empty_dialogues"], 0,
                  f"dropped {cleaned['empty_utterances']}"]] if cleaned.get("empty_utterances") else []
    parts = [
        "# Corpus report", "",
        f"Read {read['records']} records from `{read['source']}` ({read['format']}): "
        f"{read['errors']} unreadable. Cleaning removed {removed} dialogues "
        f"({removed_samples} samples); {stats['dialogues']['dialogues']} dialogues remain.", "",
        "## Cleaning", "",
        md_table(["filter", "dialogues in", "removed", "samples removed", "changed / details"],
                 empty_row + [[f["filter"], f["seen"], f["rejected"], f["rejected_samples"],
                               ", ".join(f"{k} {v}" for k, v in f["details"].items()) or "-"] for f in filt]), "",
        "## Splits", "",
        md_table(["split", "dialogues", "samples", "tokens"],
                 [[s, stats["splits"][s]["dialogues"], stats["splits"][s]["samples"], stats["splits"][s]["tokens"]]
                  for s in stats["splits"]]), "",
        *_budget_and_overlap(stats),
        "## Topics (Figure 3)", "",
        md_table(["topic", "English", "dialogues", "share"],
                 [[t, topic_names.get(t, t), n, f"{100 * n / max(1, stats['dialogues']['dialogues']):.1f}%"]
                  for t, n in stats["topics"].items()]), "",
        "## Counsellor words (Figure 4)", "",
        md_table(["rank", "word", "count"], [[i + 1, w, n] for i, (w, n) in enumerate(stats["words"])]), "",
    ]
    files = [out / "report.md"]
    if charts:
        if chart_files is None:
            chart_files = write_charts(out, stats["topics"], stats["words"], topic_names)
        files += chart_files
        parts += ["![topics](topics.png)", "", "![words](words.png)", ""]
    (out / "report.md").write_text("\n".join(parts), encoding="utf-8")
    return files


def corpus_stats(cfg: Any, source: Path, fmt: str, chain: list, read_info: dict, dialogues: list[dict],
                 splits: list[str], result: Any, described: dict[str, Any]) -> dict[str, Any]:
    """Everything stats.json holds (see docs/corpus.md)."""
    per_split = {s: {"dialogues": splits.count(s), "samples": result.meta[s]["samples"],
                     "tokens": result.meta[s]["tokens"]} for s in SPLITS}
    sample_tokens = sum(v["tokens"] for v in per_split.values())
    c = result.counts
    n_samples = max(1, sum(v["samples"] for v in per_split.values()))
    train_openings = {opening(d) for d, s in zip(dialogues, splits) if s == "train"}
    return {
        "read": {"source": str(source), "format": fmt, "records": read_info["records"],
                 "errors": read_info["errors"], "error_reasons": read_info["error_reasons"],
                 "cleaned": read_info["cleaned"]},
        # what the test split shares with training: openings none (the split keeps source groups
        # apart); a test input identical to a training input (a cut history) is left out of test
        "overlap": {"test_inputs": len(result.test), "test_inputs_seen_in_train": c["test_inputs_seen_in_train"],
                    "test_dialogues": splits.count("test"),
                    "test_openings_in_train": sum(opening(d) in train_openings
                                                  for d, s in zip(dialogues, splits) if s == "test")},
        "budgets": {"max_input_tokens": int(cfg.max_input_tokens), "max_target_tokens": int(cfg.max_target_tokens),
                    "max_history_turns": cfg.max_history_turns, "samples": sum(v["samples"] for v in per_split.values()),
                    "history_cut": c["history_cut"], "input_cut": c["input_cut"], "target_cut": c["target_cut"],
                    "dropped": c["dropped_overlong"]},
        "filters": [{"filter": f.name, "seen": f.counts["seen"], "rejected": f.counts["rejected"],
                     "rejected_samples": read_info["rejected_samples"].get(f.name, 0),
                     "details": {k: v for k, v in f.counts.items() if k not in ("seen", "rejected")}} for f in chain],
        "dialogues": described["dialogues"],
        "splits": per_split,
        "mode": getattr(cfg.mode, "value", cfg.mode),
        "tokens": {"dialogue_tokens": c["dialogue_tokens"], "sample_tokens": sample_tokens,
                   "user_utterance_mean": round(c["user_tokens"] / max(1, described["dialogues"]["user_chars"]["count"]), 1),
                   "counsellor_utterance_mean": round(c["counsellor_tokens"]
                                                      / max(1, described["dialogues"]["counsellor_chars"]["count"]), 1),
                   "sample_to_dialogue_ratio": round(sample_tokens / max(1, c["dialogue_tokens"]), 3),
                   "input_mean": round(c["input_tokens"] / n_samples, 1),
                   "target_mean": round(c["target_tokens"] / n_samples, 1),
                   "dropped_overlong": c["dropped_overlong"]},
        "topics": described["topics"],
        "words": described["words"],
    }
