"""The rewrite stage: single-turn Q&A -> multi-turn dialogues through the LLM client.

Reads ``rewrite.source`` (PsyQA layout), renders the ``prompt`` for every answer, asks the
``endpoint`` (the store first: the bundled recordings make the default run offline), validates
every answer against the prompt's constraints (re-asking up to ``rewrite.max_attempts``) and writes,
result by result as they arrive (memory stays flat at the paper's 619,725 answers):

- ``dialogues.jsonl``: the canonical dialogues (docs/ARCHITECTURE.md), with ``meta`` saying which
  prompt, template hash, model and attempt produced each;
- ``results.jsonl``: one line per answer, every status: the rendered prompt, template hash,
  sampling parameters, store key, attempts, store/network counts, errors and the raw text;
- ``invalid.jsonl``: the answers not turned into dialogues, with the reasons;
- ``rewrite_stats.json``: counts, tokens, cost, store hits vs network, rejects by reason;
- ``spend.json``: what this job has sent and may be billed, over all its runs (the spend guards'
  ledger).

The stage is finished only when every answer is: one left by a transient error (network, 5xx, 429,
timeouts, a spend guard) raises, so the pipeline keeps ``<key>.partial`` and the same command asks
exactly those again; answers refused on their merits (invalid after ``rewrite.max_attempts``, a
400, a content filter) are recorded and not asked again.

Raises:
    SoulchatError: a source with no readable answer.
    Unfinished: answers left by transient errors (a one-line summary; outputs so far are written).
    SpendLimitReached: a spend guard stopped the run (raise it and run the same command again).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from soulchat.errors import SoulchatError
from soulchat.io import dumps, read_jsonl, write_json, write_jsonl
from soulchat.llm.client import Request, Result, Unfinished
from soulchat.llm.limits import SpendLimitReached
from soulchat.registry import build
from soulchat.rewrite.prompts import QA, Prompt
from soulchat.rewrite.source import read_qa
from soulchat.stage import Stage

log = logging.getLogger(__name__)


def load(cfg: Any) -> tuple[Prompt, list[QA], list[dict]]:
    """The prompt, the Q&A a config selects and the unreadable records (shared with the batch command)."""
    prompt = build("prompt", cfg.prompt)
    qas, bad = read_qa(cfg.rewrite.source, cfg.rewrite.limit)
    if not qas and cfg.rewrite.limit != 0:
        raise SoulchatError(f"rewrite.source {cfg.rewrite.source}: " + (
            f"none of its {len(bad)} records could be read, e.g. {bad[0]['reason']}" if bad
            else "holds no answers; expected the PsyQA layout (question, description, answers)"))
    log.info("rewrite: %d answers from %s (%d records unreadable), prompt %s (template %s)", len(qas),
             cfg.rewrite.source, len(bad), prompt.name, prompt.template_hash)
    for rec in bad[:5]:
        log.warning("rewrite: skipped %s", rec["reason"])
    return prompt, qas, bad


def dialogue(qa: QA, messages: list, source: str, meta: dict) -> dict:
    group = {"group": qa.group} if qa.group else {}  # the corpus splits by it (no question in two splits)
    return {"id": qa.id, "source": source, "topic": qa.topic, **group, "messages": messages, "meta": meta}


class Writer:
    """Writes each result as it comes (in the requests' order): the dialogue or the reject, and the
    full record. Files are written under ``.tmp`` names and renamed by :meth:`close`."""

    FILES = ("dialogues.jsonl", "invalid.jsonl", "results.jsonl")

    def __init__(self, out: Path, prompt: Prompt, qas: list[QA], unreadable: list[dict], refused: list[dict] = ()):
        self.out, self.prompt = out, prompt
        self.by_id = {qa.id: qa for qa in qas}
        self.source = f"rewrite-{prompt.name}"
        self.reasons: Counter = Counter()
        self.left: Counter = Counter()  # answers left for the next run, by reason
        self.dialogues = 0
        for name in self.FILES:
            (out / f"{name}.tmp").unlink(missing_ok=True)
        # buffered, not flushed per line: the store is what must survive a kill; these files are
        # rewritten from it by the next run
        self.files = {name: open(out / f"{name}.tmp", "w", encoding="utf-8") for name in self.FILES}
        for rec in unreadable:
            self.reject(rec)
        for rec in refused:  # refused by an earlier run of this job: recorded again, not asked again
            self.files["results.jsonl"].write(dumps(rec) + "\n")
            self.reject({"id": rec["id"], "status": rec["status"], "reason": _reason(rec["errors"], rec["status"]),
                         "errors": rec["errors"], "text": rec["text"]})

    def reject(self, rec: dict) -> None:
        self.reasons[rec["reason"]] += 1
        self.files["invalid.jsonl"].write(dumps(rec) + "\n")

    def __call__(self, req: Request, res: Result) -> None:
        prompt = self.prompt
        self.files["results.jsonl"].write(dumps({
            "id": res.id, "status": res.status, "prompt": prompt.name, "template_hash": prompt.template_hash,
            "rendered_prompt": req.messages[0]["content"], "model": res.model, "params": res.params,
            "key": res.key, "attempts": res.attempts, "from_store": res.from_store,
            "from_network": res.from_network, "errors": res.errors, "text": res.text}) + "\n")
        if res.status == "ok":
            self.dialogues += 1
            self.files["dialogues.jsonl"].write(dumps(dialogue(self.by_id[res.id], res.value, self.source, {
                "prompt": prompt.name, "template_hash": prompt.template_hash, "model": res.model,
                "attempt": res.attempts, "key": res.key})) + "\n")
        elif res.left:
            self.left[_reason(res.errors, res.status)] += 1
        else:
            self.reject({"id": res.id, "status": res.status, "reason": _reason(res.errors, res.status),
                         "errors": res.errors, "text": res.text})

    def close(self) -> None:
        for name, fh in self.files.items():
            fh.close()
            (self.out / f"{name}.tmp").replace(self.out / name)


def _reason(errors: list, status: str) -> str:
    return errors[-1].split(":", 1)[0] if errors else status


def refused_before(out: Path) -> list[dict]:
    """The results an earlier, unfinished run of this job wrote for answers the endpoint refused
    (status ``failed``: 400, 422, ...), which asking again would not change."""
    path = out / "results.jsonl"
    return [rec for _, rec in read_jsonl(path) if rec.get("status") == "failed"] if path.exists() else []


def run(ctx: Any) -> dict[str, float]:
    """Rewrite ``rewrite.source`` into ``ctx.out`` (see the module docstring); return the stats."""
    cfg = ctx.cfg
    prompt, qas, bad = load(cfg)
    unreadable = [{"id": None, "status": "unreadable", "reason": "bad_input", "errors": [rec["reason"]],
                   "path": rec["path"], "line": rec["line"], "field": rec["field"]} for rec in bad]
    source = f"rewrite-{prompt.name}"
    if not prompt.rewrite:
        n = write_jsonl(ctx.out / "dialogues.jsonl", (
            dialogue(qa, prompt.single_turn_dialogue(qa), source, {"prompt": prompt.name}) for qa in qas))
        write_jsonl(ctx.out / "invalid.jsonl", unreadable)
        write_json(ctx.out / "rewrite_stats.json", {"items": n, "ok": n, "prompt": prompt.name})
        return {"items": n, "ok": n, "store_hits": 0, "network": 0}

    client = build("endpoint", cfg.endpoint, concurrency=cfg.rewrite.concurrency, desc="rewrite")
    refused = refused_before(ctx.out)
    skip = {rec["id"] for rec in refused}
    writer = Writer(ctx.out, prompt, qas, unreadable, refused)
    try:
        client.run((prompt.request(qa) for qa in qas if qa.id not in skip), validate=prompt.validate,
                   max_attempts=cfg.rewrite.max_attempts, on_result=writer, keep=False,
                   ledger=ctx.out / "spend.json")
    finally:
        writer.close()  # what was answered is written even when a guard or an error stops the run
    reasons, stats = writer.reasons, client.stats
    stats.items += len(refused)
    stats.failed += len(refused)
    summary = {"prompt": prompt.name, "template_hash": prompt.template_hash, "model": client.model,
               "source": str(cfg.rewrite.source), **stats.as_metrics(), "stopped_by": stats.stopped_by,
               "rejects": dict(reasons), "reasons_per_attempt": dict(stats.reasons)}
    write_json(ctx.out / "rewrite_stats.json", summary)
    ctx.publish(ctx.out / "rewrite_stats.json")
    log.info("rewrite: %d dialogues, %d not; %d answers from the store, %d requests to the network; "
             "rejects %s", writer.dialogues, len(qas) - writer.dialogues, stats.store_hits, stats.network,
             dict(reasons) or "none")
    left = stats.unfinished + stats.skipped
    if left:
        done = (f"{stats.items - left} of {stats.items} answers done ({writer.dialogues} dialogues), {left} left "
                f"({', '.join(f'{k}: {n}' for k, n in writer.left.most_common())})")
        if stats.stopped_by:
            name = stats.stopped_by.split("=")[0]
            raise SpendLimitReached(
                f"rewrite stopped by the spend guard {stats.stopped_by}, which counts every run of this job "
                f"until it finishes: {done}; spent {client.guard.describe()}. Every answer received is in "
                f"{client.store.describe()}: raise endpoint.{name} and run the same command again to continue")
        raise Unfinished(f"rewrite unfinished: {done}; not cached: run the same command again to ask "
                         f"exactly those ({stats.ok + stats.invalid} answers done so far are stored)")
    metrics = stats.as_metrics()
    metrics.update({f"rejects_{k}": float(v) for k, v in reasons.items()})
    metrics["dialogues"] = float(writer.dialogues)
    return metrics


#: the stage's declaration (registered in soulchat/rewrite/components.py)
STAGE = Stage(
    "rewrite", run, inputs=lambda c: (), config_keys=("rewrite", "prompt", "endpoint"),
    files=lambda c: (c.rewrite.source, c.endpoint.recorded), families=("prompt", "endpoint"))
