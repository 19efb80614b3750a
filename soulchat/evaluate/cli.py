"""``soulchat score``: score a JSONL file of predictions and references with a metric set.

    soulchat score outputs/.../predictions.jsonl                 # metric set "paper"
    soulchat score preds.jsonl --metric-set chatglm --json       # machine-readable
    soulchat score preds.jsonl --prediction-field output --reference-field target

Each line needs a prediction and a reference field (default ``prediction`` / ``reference``, the
generate stage's layout). Exit status 2 on bad input, with the file, line and field.
"""

from __future__ import annotations

import argparse
import json
import sys

from soulchat.io import InputError, read_jsonl


def read_pairs(path: str, pred_field: str, ref_field: str) -> tuple[list[str], list[str]]:
    """Predictions and references of a JSONL file.

    Raises:
        InputError: a line that is not an object, or lacks a field, or has a non-string value; a file
            without any record (scores of nothing would read as zeros).
    """
    preds, refs = [], []
    for line, rec in read_jsonl(path):
        if not isinstance(rec, dict):
            raise InputError(path, line, None, "expected a JSON object per line")
        for field, out in ((pred_field, preds), (ref_field, refs)):
            value = rec.get(field)
            if not isinstance(value, str):
                raise InputError(path, line, field, "missing or not a string; choose the field with "
                                 f"--{'prediction' if out is preds else 'reference'}-field")
            out.append(value)
    if not preds:
        raise InputError(path, None, None, "empty file: no predictions to score (one JSON object per line, "
                         f"with {pred_field!r} and {ref_field!r})")
    return preds, refs


def main(argv: list[str] | None = None) -> int:
    from soulchat.registry import registry

    ap = argparse.ArgumentParser(prog="soulchat score", description=__doc__.split("\n")[0])
    ap.add_argument("predictions", help="JSONL file with prediction and reference fields")
    ap.add_argument("--metric-set", default="paper", help="one of: " + ", ".join(registry().families["metric_set"]))
    ap.add_argument("--prediction-field", default="prediction")
    ap.add_argument("--reference-field", default="reference")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)
    try:
        preds, refs = read_pairs(args.predictions, args.prediction_field, args.reference_field)
    except (InputError, OSError) as exc:
        print(f"soulchat score: {exc}", file=sys.stderr)
        return 2
    from soulchat.evaluate import score

    try:
        result = score(preds, refs, args.metric_set)
    except KeyError as exc:
        print(f"soulchat score: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.metric_set} on {len(preds)} samples of {args.predictions}")
    for key in result:
        table.add_column(key, justify="right")
    table.add_row(*(f"{v:.2f}" for v in result.values()))
    Console().print(table)
    return 0
