"""The evaluate stage: metrics, the judge (its rubric: CEHS by default), human rating sheets, the Table-1 report.

Reads the generate stage's ``predictions.jsonl`` and writes into its folder:

- ``metrics.json``: every number (the chosen ``metric_set``, the ``evaluate.extra_metric_sets``,
  the judge's rubric means when it rated and, when it is enabled, their n: ``judge_n_rated`` / ``judge_n_requested``
  / ``judge_n_heuristic``, human-rating means and Fleiss' kappa when imported);
- ``judge.jsonl`` (per-sample ratings) and ``judge.json`` (status: rated / partial / skipped, and
  why, and how many answers came from the store and from the network); a skipped judge leaves the
  rubric columns empty, it never guesses; ``judge_reference.*`` the same for the test set's reference
  replies to the same contexts (the ``reference`` row, ``evaluate.judge_references``);
- ``human/`` sheets and key when ``evaluate.human.raters`` > 0;
- ``report.md``, ``report.csv``, ``report.png``: the Table-1 layout (also copied to the run folder
  and logged to MLflow).
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from soulchat import progress
from soulchat.evaluate.contracts import judge_rubric
from soulchat.io import InputError, read_jsonl, write_json, write_jsonl
from soulchat.registry import build
from soulchat.stage import Stage

log = logging.getLogger(__name__)

FIELDS = ("id", "prediction", "reference")


def read_predictions(path: Path) -> list[dict]:
    """Generate-stage records. Raises ``InputError`` for a record without a needed string field."""
    out = []
    for line, rec in read_jsonl(path):
        for f in FIELDS:
            if not isinstance(rec, dict) or not isinstance(rec.get(f), str):
                raise InputError(path, line, f, "missing or not a string; predictions.jsonl comes from the generate stage")
        out.append(rec)
    return out


def conversation(pred: dict) -> Optional[list[dict]]:
    """The messages before the reply: the record's ``history`` when it has one, else its rendered
    ``input`` read back (soulchat.corpus.format.parse_input); None when neither says."""
    from soulchat.corpus.format import parse_input

    history = pred.get("history")
    if isinstance(history, list):
        return history
    return parse_input(pred["input"]) if isinstance(pred.get("input"), str) else None


def last_user_message(pred: dict) -> Optional[str]:
    """The user's last message before the reply: from the record's ``history`` when it has one, else
    from its rendered ``input`` (``用户：…\n心理咨询师：``, soulchat.corpus.format.render_input); None when neither says."""
    from soulchat.speakers import ASSISTANT, COLON, LABELS, USER

    history = conversation(pred)
    if history is not None:
        users = [m.get("content") for m in history if isinstance(m, dict) and m.get("role") == USER]
        return users[-1] if users and isinstance(users[-1], str) else None
    text, head = pred.get("input"), LABELS[USER] + COLON  # an input that does not read back exactly
    if not isinstance(text, str) or head not in text:
        return None
    text = text.removesuffix(LABELS[ASSISTANT] + COLON).rstrip("\n")
    at = text.rfind("\n" + head)
    return text[at + 1 + len(head):] if at >= 0 else text.removeprefix(head)


def automatic_metrics(cfg: Any, preds: list[dict]) -> dict[str, float]:
    """The chosen metric set, then each extra set (its keys do not overwrite earlier ones).

    A metric set whose ``update`` takes ``inputs`` gets each prediction's last user message, and one
    whose ``update`` takes ``histories`` the messages before each reply (each all or none: a file
    where one is missing gives none)."""
    from soulchat.registry import registry

    sets = [("metric_set", cfg.metric_set)]
    for name in cfg.evaluate.extra_metric_sets:
        if name != cfg.metric_set.name:
            sets.append((name, OmegaConf.structured(registry().get("metric_set", name).schema(name=name))))
    result: dict[str, float] = {}
    hyps, refs = [p["prediction"] for p in preds], [p["reference"] for p in preds]
    bs = int(cfg.evaluate.batch_size)
    known: dict[str, list] = {}  # what a metric set may be given: name -> one value per prediction
    readers = {"inputs": last_user_message, "histories": conversation}
    for _, node in sets:
        metric = build("metric_set", node)
        params = inspect.signature(metric.update).parameters
        given = {}
        for name, read in readers.items():
            if name in params:
                if name not in known:  # read once for all the sets that take it
                    known[name] = [read(p) for p in preds]
                if None not in known[name]:
                    given[name] = known[name]
        for i in progress.bar(range(0, len(preds), bs), desc=f"evaluate: {node.name}", unit=" batches", leave=False):
            metric.update(hyps[i:i + bs], refs[i:i + bs], **{k: v[i:i + bs] for k, v in given.items()})
        for k, v in metric.compute().items():
            result.setdefault(k, float(v))
    return result


def run_judge(cfg: Any, preds: list[dict], out: Path, name: str = "judge") -> dict[str, Any]:
    """Rate ``evaluate.judge_samples`` predictions (a fixed random subset); returns the judge's summary."""
    if not cfg.judge.enabled:
        summary = {"status": "disabled", "requested": 0, "rated": 0, "reason": "judge.enabled=false", "means": {}}
    else:
        # a fixed random subset (predictions are written in generation order, longest inputs first)
        from soulchat.io import subset

        report = build("judge", cfg.judge).rate(subset(preds, int(cfg.evaluate.judge_samples), int(cfg.seed)))
        write_jsonl(out / f"{name}.jsonl", report.ratings)
        summary = report.summary()
    write_json(out / f"{name}.json", summary)
    if summary["status"] not in ("rated", "disabled"):
        log.warning("evaluate: judge %s: %s", summary["status"], summary["reason"])
    return summary


def human_rating(cfg: Any, preds: list[dict], out: Path) -> dict[str, Any]:
    """Export sheets and/or import filled ones (``evaluate.human``); returns the summary."""
    from soulchat.evaluate import human

    h, info = cfg.evaluate.human, {}
    if not (h.raters or h.ratings):
        return info
    rubric = judge_rubric(cfg.judge.name)  # the sheets rate what the judge rates
    if h.raters:
        info["export"] = human.export_sheets(preds, out / "human", rubric, int(h.raters), int(h.samples), int(cfg.seed))
    if h.ratings:
        folder = Path(h.ratings)
        sheets = sorted((folder / "filled").glob("*.csv"))
        if not sheets:
            raise FileNotFoundError(f"evaluate.human.ratings={folder}: no filled sheets in {folder / 'filled'}")
        info["summary"] = human.summarize(human.import_ratings(folder / "key" / "key.csv", sheets, rubric), rubric)
    if info:
        write_json(out / "human.json", info)
    return info


def label(preds: list[dict]) -> tuple[str, str]:
    """(test set, model) of a predictions file, as the generate stage recorded them."""
    return str(preds[0].get("test_set", "test")), str(preds[0].get("model", "model"))


def judge_fields(judge: dict) -> dict[str, Any]:
    """A report row's judge keys (soulchat.evaluate.report.JUDGE_KEYS): who rated, and n; none when disabled."""
    if judge["status"] == "disabled":
        return {}
    return {"judge": judge.get("label", ""), "judge_n_rated": float(judge["rated"]),
            "judge_n_requested": float(judge["requested"]), "judge_n_heuristic": float(judge.get("heuristic", 0))}


def score_file(cfg: Any, preds: list[dict], out: Path, judge_name: str) -> tuple[dict, dict]:
    """One report row (automatic metrics, the judge's rubric means and their n) and the judge's summary for one file."""
    row = automatic_metrics(cfg, preds)
    judge = run_judge(cfg, preds, out, judge_name)
    row.update(judge["means"], **judge_fields(judge))
    return {"test_set": label(preds)[0], "model": label(preds)[1], **row}, judge


def reference_row(cfg: Any, preds: list[dict], out: Path) -> tuple[dict, dict]:
    """The judge's row for the references of the same contexts (the data the model learns from)."""
    refs = [{**p, "prediction": p["reference"]} for p in preds]
    judge = run_judge(cfg, refs, out, "judge_reference")
    return {"test_set": label(preds)[0], "model": "reference", **judge["means"], **judge_fields(judge)}, judge


def judge_note(model: str, judge: dict) -> str:
    """One line under the table: what the judge did for a row, and where its answers came from."""
    if judge["status"] == "disabled":
        return f"{model}: judge disabled"
    note = (f"{model}: {judge.get('rubric') or 'rubric'} by {judge.get('label') or 'the judge'}, "
            + ("" if judge["status"] == "rated" else f"{judge['status']}: ")
            + f"{judge['rated']} of {judge['requested']} replies rated")
    if judge.get("note"):  # what the judge says a reader should know (a heuristic, where answers came from)
        note += f"; {judge['note']}"
    return note + (f": {judge['reason']}" if judge["reason"] else "")


def write_report(ctx: Any, rows: list[dict], notes: list[str], title: str) -> str:
    """report.md/.csv/.png into the stage folder and the run folder, logged to MLflow."""
    from soulchat.evaluate.report import build_table

    out = Path(ctx.out)
    table = build_table(rows, out, "report", title=title)
    with open(out / "report.md", "a", encoding="utf-8") as fh:
        fh.writelines(f"\n{note}\n" for note in notes)
    ctx.publish(*(out / f for f in ("report.md", "report.csv", "report.png", "metrics.json", "judge.json",
                                    "judge_reference.json")))
    return table.markdown


def run(ctx: Any) -> dict[str, float]:
    cfg, out = ctx.cfg, Path(ctx.out)
    preds = read_predictions(Path(ctx.inputs["generate"]) / "predictions.jsonl")
    extras = [read_predictions(Path(p)) for p in cfg.evaluate.extra_predictions]
    if not preds or not all(extras):
        raise ValueError("evaluate: a predictions file is empty")

    row, judge = score_file(cfg, preds, out, "judge")
    rows, judged = [row], [(row["model"], judge)]
    for i, other in enumerate(extras, 1):
        r, j = score_file(cfg, other, out, f"judge_extra_{i}")
        rows.append(r)
        judged.append((r["model"], j))
    metrics_ref = {}
    if cfg.judge.enabled and cfg.evaluate.judge_references:
        ref_row, ref_judge = reference_row(cfg, preds, out)
        if ref_judge["rated"]:
            rows.append(ref_row)
        judged.append(("reference", ref_judge))
        metrics_ref = {f"reference_{k}": v for k, v in ref_row.items() if k not in ("test_set", "model", "judge")}
    notes = [judge_note(m, j) for m, j in judged if j["status"] != "disabled"]

    human = human_rating(cfg, [p for group in (preds, *extras) for p in group], out)
    summary = human.get("summary", {})
    rows += [{"test_set": row["test_set"], "model": f"{m} (human)", **means, "judge": "human"}
             for m, means in summary.get("means", {}).items()]
    if summary.get("kappa"):
        notes.append(f"Human rating: {len(summary['raters'])} raters, Fleiss' kappa: "
                     + ", ".join(f"{d} {k:.3f}" for d, k in summary["kappa"].items()))

    metrics = {k: v for k, v in row.items() if k not in ("test_set", "model", "judge")}
    metrics.update({f"human_kappa_{d}": k for d, k in summary.get("kappa", {}).items()})
    metrics.update(metrics_ref)
    metrics.update(samples=float(len(preds)))
    write_json(out / "metrics.json", {"metrics": metrics, "rows": rows, "judge": judge, "human": human})
    markdown = write_report(ctx, rows, notes, f"Evaluation ({cfg.metric_set.name} metrics, {len(preds)} samples)")
    log.info("evaluate:\n%s", markdown)
    return metrics


#: the stage's declaration (registered in soulchat/evaluate/components.py)
STAGE = Stage(
    "evaluate", run, inputs=lambda c: ("generate",), config_keys=("evaluate", "metric_set", "judge"),
    files=lambda c: (*(c.evaluate.get("extra_predictions") or ()), c.evaluate.human.get("ratings"),
                     c.judge.get("recorded"), c.judge.get("fluency_texts")),
    families=("metric_set", "judge"),
    components=lambda c: tuple(("metric_set", str(n)) for n in c.evaluate.get("extra_metric_sets") or ()))
