"""The corpus stage: read -> clean -> topics -> split -> expand -> statistics.

Reads ``corpus.source`` (a file or folder in any format a ``reader`` knows, or ``rewrite``: the
rewrite stage's ``dialogues.jsonl``) and writes into its folder:

- ``dialogues.jsonl``: the clean canonical dialogues, each with its ``topic`` and ``split``;
- ``rejects.jsonl``: every record that was unreadable or filtered out, with the reason;
- ``samples/<split>/``: the tokenised samples (:class:`~soulchat.corpus.samples.SampleSet`);
- ``test.jsonl``: the test split's samples as text, for generation
  (``{id, dialogue_id, topic, history, input, reference}``);
- ``stats.json``, ``report.md``, ``topics.png``, ``words.png``; ``export/<format>/<split>.jsonl``
  for each of ``corpus.export``.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from soulchat import plotting, progress
from soulchat.corpus.expand import BackgroundTokenizer, expand
from soulchat.corpus.filters import Reject, build_chain
from soulchat.corpus.readers.base import Reader, build_readers, choose
from soulchat.corpus.readers.files import DamagedFile
from soulchat.corpus.split import SPLITS, assign_splits, group_keys, opening
from soulchat.corpus.stats import dialogue_stats, word_frequencies, write_charts, write_report
from soulchat.io import InputError, JsonlAppender, write_json, write_jsonl
from soulchat.model.tokenizer import get_tokenizer, tokenizer_identity, write_identity
from soulchat.registry import registry
from soulchat.stage import Stage

log = logging.getLogger(__name__)


class Timings(dict):
    """``with timings("phase"):`` records wall seconds and this thread's CPU seconds (stats.json)."""

    @contextmanager
    def __call__(self, phase: str):
        w, c = time.perf_counter(), time.thread_time()
        yield
        self[phase] = {"wall": round(time.perf_counter() - w, 3), "main_cpu": round(time.thread_time() - c, 3)}


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for the duration.

    The stage holds every dialogue as small dicts and lists (millions of objects) and makes no
    reference cycles, so each automatic collection only walks them again: on SMILECHAT that was
    about 7 of 47 CPU seconds, most of it triggered by the tokenizer thread's id lists. Memory is
    still freed by reference counting; the collector is switched back on afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def resolve_source(cfg: Any, inputs: dict[str, Path]) -> Path:
    """The file or folder to read. Raises ``FileNotFoundError`` naming ``corpus.source``."""
    if cfg.source == "rewrite":
        return Path(inputs["rewrite"]) / "dialogues.jsonl"
    path = Path(cfg.source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"corpus.source={cfg.source!r} does not exist (a file, a folder, or 'rewrite')")
    return path


def read_and_clean(reader: Reader, source: Path, chain: list, topic: Any, on_error: str,
                   rejects: JsonlAppender, sink: Any = None) -> tuple[list[dict], dict[str, Any]]:
    """Read every record, run the filter chain, classify topics; rejects go to ``rejects``, and
    every kept dialogue to ``sink`` too (the background tokenizer).

    Raises:
        InputError: a bad record when ``on_error=raise``.
    """
    dialogues, ids = [], set()
    errors: Counter[str] = Counter()
    cleaned: Counter[str] = Counter()
    records = 0
    rejected_samples: Counter[str] = Counter()
    for item in progress.bar(reader.read(source), desc="corpus: read + clean", unit=" dialogues", mininterval=2):
        records += 1
        if item.error is not None:
            if on_error == "raise" or isinstance(item.error, DamagedFile):  # a damaged file loses unknown records
                raise item.error
            errors[item.error.reason.split(" (")[0][:60]] += 1
            rejects.write({"stage": "read", "reason": str(item.error), "file": item.path, "line": item.line,
                           "field": item.error.field, "record": item.raw if isinstance(item.raw, (dict, list, str)) else None})
            continue
        d = item.dialogue
        if item.dropped:  # empty utterances: cleaned away, each noted with its own line
            cleaned["empty_utterances"] += len(item.dropped)
            for note in item.dropped:
                rejects.write({"stage": "clean", "file": item.path, "id": d["id"], **note})
            if not d["messages"]:
                cleaned["empty_dialogues"] += 1
                rejects.write({"stage": "clean", "reason": "every utterance is empty", "file": item.path,
                               "line": item.line, "id": d["id"]})
                continue
        step = None
        try:
            for step in chain:
                d = step(d)
        except Reject as r:
            rejected_samples[step.name] += sum(m["role"] == "assistant" for m in d["messages"])
            rejects.write({"stage": "filter", "filter": step.name, "reason": r.reason, "file": item.path,
                           "line": item.line, "id": d["id"], "dialogue": d})
            continue
        if d["id"] in ids:  # ids must be unique: test samples and splits are keyed by them
            d = {**d, "id": f"{d['id']}~{records}"}
        ids.add(d["id"])
        d["topic"] = topic(d)
        dialogues.append(d)
        if sink is not None:
            sink(d)
    info = {"records": records, "errors": sum(errors.values()), "error_reasons": dict(errors),
            "cleaned": {"empty_utterances": cleaned["empty_utterances"], "empty_dialogues": cleaned["empty_dialogues"]},
            "rejected_samples": dict(rejected_samples)}
    return dialogues, info


def run(ctx: Any) -> dict[str, float]:
    with gc_paused():
        return _run(ctx)


def _run(ctx: Any) -> dict[str, float]:
    cfg = ctx.cfg.corpus
    out: Path = ctx.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("samples", "export"):  # a resumed run recomputes everything (it is fast)
        shutil.rmtree(out / stale, ignore_errors=True)

    source = resolve_source(cfg, ctx.inputs)
    readers = build_readers(cfg.reader)
    writable = sorted(n for n, r in readers.items() if hasattr(r, "export"))  # readers that can write their format
    if set(cfg.export) - set(writable):
        raise ValueError(f"corpus.export={list(cfg.export)}: {sorted(set(cfg.export) - set(writable))} cannot be "
                         f"written; readers that can: {writable}")
    fmt = choose(cfg.reader, source, readers)
    log.info("corpus: reading %s as %s", source, fmt)
    chain = build_chain(cfg.filters)
    topic = registry().build("topic", OmegaConf.to_object(ctx.cfg.topic))
    tokenizer = get_tokenizer(ctx.cfg.model, ctx.cfg.paths.cache)
    write_identity(out, ctx.cfg.model)  # which tokenizer made the ids: the train stage checks it

    timings = Timings()
    if cfg.stats.charts:
        plotting.preload()  # in its own thread: importing it here would pin this frame (see soulchat.plotting)
    tokens = BackgroundTokenizer(tokenizer)  # tokenises kept dialogues while the next are read
    (out / "rejects.jsonl.tmp").unlink(missing_ok=True)  # a killed run's rows would be appended to again
    with timings("read_clean"), JsonlAppender(out / "rejects.jsonl.tmp") as rejects:
        on_error = getattr(cfg.on_error, "value", cfg.on_error)
        dialogues, read_info = read_and_clean(readers[fmt], source, chain, topic, on_error, rejects, tokens.add)
    (out / "rejects.jsonl.tmp").replace(out / "rejects.jsonl")
    if not dialogues:
        raise InputError(source, None, None, f"no dialogues left after reading and cleaning (see {out / 'rejects.jsonl'})")

    replies = [sum(m["role"] == "assistant" for m in d["messages"]) for d in dialogues]
    with timings("split"):  # by source group: a question's dialogues share a split
        splits = assign_splits(group_keys(dialogues), replies, cfg.val_size, cfg.test_size, cfg.split_seed)
    with timings("write_dialogues"):
        write_jsonl(out / "dialogues.jsonl", ({**d, "split": s} for d, s in zip(dialogues, splits)))
    with timings("describe"):  # while the background thread tokenises
        described = {"dialogues": dialogue_stats(dialogues),
                     "words": word_frequencies(dialogues, cfg.stats.wordfreq_utterances, cfg.stats.top_words),
                     "topics": dict(Counter(d["topic"] for d in dialogues).most_common())}
    topic_names = topic.names if hasattr(topic, "names") else {}
    chart_files = []
    if cfg.stats.charts:
        with timings("charts"):  # drawn now, while the background thread still tokenises
            chart_files = write_charts(out, described["topics"], described["words"], topic_names)
    with timings("expand"):
        result = expand(dialogues, splits, tokenizer, cfg, out, contents=tokens.contents())
        write_jsonl(out / "test.jsonl", result.test)
    for name in cfg.export:
        reader = readers[name]
        for s in SPLITS:
            write_jsonl(out / "export" / name / f"{s}.jsonl",
                        (reader.export(d) for d, sp in zip(dialogues, splits) if sp == s))

    stats = corpus_stats(cfg, source, fmt, chain, read_info, dialogues, splits, result, described)
    with timings("report"):
        files = write_report(out, stats, topic_names, cfg.stats.charts, chart_files)
    stats["timings"] = timings
    write_json(out / "stats.json", stats)
    ctx.publish(*files, out / "stats.json")
    log.info("corpus: %d dialogues kept, %d removed; samples %s", len(dialogues),
             sum(f["rejected"] for f in stats["filters"]) + read_info["errors"] + read_info["cleaned"]["empty_dialogues"],
             {s: result.meta[s]["samples"] for s in SPLITS})
    return {
        "records": read_info["records"], "read_errors": read_info["errors"],
        "rejected": sum(f["rejected"] for f in stats["filters"]), "dialogues": len(dialogues),
        **{f"samples_{s}": result.meta[s]["samples"] for s in SPLITS},
        "dialogue_tokens": result.counts["dialogue_tokens"], "sample_tokens": stats["tokens"]["sample_tokens"],
        "dropped_overlong": result.counts["dropped_overlong"], "input_cut": result.counts["input_cut"],
        "target_cut": result.counts["target_cut"], "test_inputs_seen_in_train": result.counts["test_inputs_seen_in_train"],
    }


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


#: the stage's declaration (registered in soulchat/corpus/components.py): it reads the rewrite
#: stage's dialogues unless ``corpus.source`` names a file, and its ids depend on the tokenizer
STAGE = Stage(
    "corpus", run, inputs=lambda c: ("rewrite",) if c.corpus.source == "rewrite" else (),
    config_keys=("corpus", "topic", "model.tokenizer"),
    files=lambda c: () if c.corpus.source == "rewrite" else (c.corpus.source,),
    families=("reader", "filter", "topic"), identity=lambda c: tokenizer_identity(c.model))
