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
import json
import logging
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from soulchat import plotting, progress
from soulchat.corpus.expand import BackgroundTokenizer, expand
from soulchat.corpus.export import check as check_exports
from soulchat.corpus.export import write_exports
from soulchat.corpus.filters import Reject, build_chain
from soulchat.corpus.readers.base import Reader, build_readers, choose
from soulchat.corpus.readers.files import DamagedFile
from soulchat.corpus.split import SPLITS, assign_splits, group_keys
from soulchat.corpus.stats import corpus_stats, dialogue_stats, word_frequencies, write_charts, write_report
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


def plain(raw: Any) -> Any:
    """A record as JSON can hold it (a table's dates or bytes as text), or None when it is not a record."""
    if not isinstance(raw, (dict, list, str)):
        return None
    return json.loads(json.dumps(raw, ensure_ascii=False, default=str))


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
                           "row": getattr(item.error, "row", None), "field": item.error.field, "record": plain(item.raw)})
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
    cfg, out, timings = ctx.cfg.corpus, ctx.out, Timings()
    plan = prepare(ctx.cfg, ctx.inputs, out)
    if cfg.stats.charts:
        plotting.preload()  # in its own thread: importing it here would pin this frame (see soulchat.plotting)
    tokens = BackgroundTokenizer(plan.tokenizer)  # tokenises kept dialogues while the next are read
    with timings("read_clean"):
        dialogues, read_info = read_clean(plan, cfg, out, tokens.add)
    with timings("split"):  # by source group: a question's dialogues share a split
        splits = split(dialogues, cfg)
    with timings("write_dialogues"):
        write_jsonl(out / "dialogues.jsonl", ({**d, "split": s} for d, s in zip(dialogues, splits)))
    with timings("describe"):  # while the background thread tokenises
        described = describe(dialogues, cfg.stats)
    chart_files = []
    if cfg.stats.charts:
        with timings("charts"):  # drawn now, while the background thread still tokenises
            chart_files = write_charts(out, described["topics"], described["words"], plan.topic_names)
    with timings("expand"):
        result = expand(dialogues, splits, plan.tokenizer, cfg, out, contents=tokens.contents())
        write_jsonl(out / "test.jsonl", result.test)
    stats = corpus_stats(cfg, plan.source, plan.fmt, plan.chain, read_info, dialogues, splits, result, described)
    with timings("report"):
        files = write_report(out, stats, plan.topic_names, cfg.stats.charts, chart_files)
    if cfg.export:
        with timings("export"):
            write_exports(out, cfg.export, plan.readers, dialogues, splits, stats, cfg.licence)
    stats["timings"] = timings
    write_json(out / "stats.json", stats)
    ctx.publish(*files, out / "stats.json")
    return summary(stats, result)


@dataclass
class Plan:
    """What the stage reads, and with what; all chosen before a record is read."""

    source: Path
    readers: dict[str, Any]
    fmt: str  # the reader's name
    chain: list
    topic: Any
    tokenizer: Any

    @property
    def topic_names(self) -> dict[str, str]:
        return getattr(self.topic, "names", {})


def prepare(cfg: Any, inputs: dict[str, Path], out: Path) -> Plan:
    """Clear what a resumed run recomputes, choose the reader, build the chain, topics and tokenizer.

    Raises:
        InputError: the format cannot be detected. ValueError: ``corpus.export`` names a reader that cannot write.
    """
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("samples", "export"):  # a resumed run recomputes everything (it is fast)
        shutil.rmtree(out / stale, ignore_errors=True)
    source = resolve_source(cfg.corpus, inputs)
    readers = build_readers(cfg.corpus.reader)
    check_exports(cfg.corpus.export, readers)
    fmt = choose(cfg.corpus.reader, source, readers)
    log.info("corpus: reading %s as %s", source, fmt)
    plan = Plan(source, readers, fmt, build_chain(cfg.corpus.filters),
                registry().build("topic", OmegaConf.to_object(cfg.topic)), get_tokenizer(cfg.model, cfg.paths.cache))
    write_identity(out, cfg.model)  # which tokenizer made the ids: the train stage checks it
    return plan


def read_clean(plan: Plan, cfg: Any, out: Path, sink: Any) -> tuple[list[dict], dict[str, Any]]:
    """:func:`read_and_clean` with its rejects written to ``rejects.jsonl``. Raises ``InputError``
    when no dialogue is left."""
    (out / "rejects.jsonl.tmp").unlink(missing_ok=True)  # a killed run's rows would be appended to again
    with JsonlAppender(out / "rejects.jsonl.tmp") as rejects:
        dialogues, info = read_and_clean(plan.readers[plan.fmt], plan.source, plan.chain, plan.topic,
                                         getattr(cfg.on_error, "value", cfg.on_error), rejects, sink)
    (out / "rejects.jsonl.tmp").replace(out / "rejects.jsonl")
    if not dialogues:
        raise InputError(plan.source, None, None,
                         f"no dialogues left after reading and cleaning (see {out / 'rejects.jsonl'})")
    return dialogues, info


def split(dialogues: list[dict], cfg: Any) -> list[str]:
    """Each dialogue's split, by source group (docs/corpus.md, Split)."""
    replies = [sum(m["role"] == "assistant" for m in d["messages"]) for d in dialogues]
    return assign_splits(group_keys(dialogues), replies, cfg.val_size, cfg.test_size, cfg.split_seed)


def describe(dialogues: list[dict], cfg: Any) -> dict[str, Any]:
    """Dialogue statistics, counsellor word frequencies and topic counts (``corpus.stats``)."""
    return {"dialogues": dialogue_stats(dialogues),
            "words": word_frequencies(dialogues, cfg.wordfreq_utterances, cfg.top_words),
            "topics": dict(Counter(d["topic"] for d in dialogues).most_common())}


def summary(stats: dict[str, Any], result: Any) -> dict[str, float]:
    """The stage's metrics (and one log line)."""
    read, c = stats["read"], result.counts
    rejected = sum(f["rejected"] for f in stats["filters"])
    samples = {s: result.meta[s]["samples"] for s in SPLITS}
    log.info("corpus: %d dialogues kept, %d removed; samples %s", stats["dialogues"]["dialogues"],
             rejected + read["errors"] + read["cleaned"]["empty_dialogues"], samples)
    return {
        "records": read["records"], "read_errors": read["errors"], "rejected": rejected,
        "dialogues": stats["dialogues"]["dialogues"], **{f"samples_{s}": n for s, n in samples.items()},
        "dialogue_tokens": c["dialogue_tokens"], "sample_tokens": stats["tokens"]["sample_tokens"],
        "dropped_overlong": c["dropped_overlong"], "input_cut": c["input_cut"],
        "target_cut": c["target_cut"], "test_inputs_seen_in_train": c["test_inputs_seen_in_train"],
    }


#: the stage's declaration (registered in soulchat/corpus/components.py): it reads the rewrite
#: stage's dialogues unless ``corpus.source`` names a file, and its ids depend on the tokenizer
STAGE = Stage(
    "corpus", run, inputs=lambda c: ("rewrite",) if c.corpus.source == "rewrite" else (),
    config_keys=("corpus", "topic", "model.tokenizer"),
    files=lambda c: () if c.corpus.source == "rewrite" else (c.corpus.source,),
    families=("reader", "filter", "topic"), identity=lambda c: tokenizer_identity(c.model),
    output_kind="dataset")
