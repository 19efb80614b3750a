"""``soulchat compare``: a Table-1-style comparison of runs (Markdown, CSV, PNG), logged to the sweep.

    soulchat compare <sweep run id>            # its child runs, one row each
    soulchat compare <run id> <run id> ...     # these runs (a sweep id stands for its children)
    soulchat compare ablation_prompt           # an MLflow experiment: its latest sweep, else all runs
    soulchat compare ablation_prompt --all paths.outputs=/data/out   # every run; another store

Rows are runs; columns are the swept values and the evaluation metrics, the paper's Table 1 first
(BLEU-1..4, ROUGE-1/2/L, then the CEHS scores). The files go to ``--out`` (default
``<paths.outputs>/compare/<name>/``) and, when the runs are one sweep's children, to the sweep's
parent run as ``compare/``. The end of every sweep builds this table automatically.
Exit status 2: nothing matched (the message says what was looked for).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Table 1's columns, in order (metric names end with these, e.g. ``evaluate/bleu-1``)
TABLE1 = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l",
          "content", "empathy", "helpfulness", "safety")


class NothingToCompare(LookupError):
    """No run matched the ids or experiment names given."""


@dataclass
class Selection:
    """The runs to compare, what they are called, and the sweep run the table belongs to (if one)."""

    name: str
    runs: list[Any] = field(default_factory=list)
    parent: Any = None


def _children(client: Any, run: Any) -> list[Any]:
    return client.search_runs([run.info.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
                              order_by=["attribute.start_time ASC"])


def select_runs(client: Any, targets: Sequence[str], all_runs: bool = False) -> Selection:
    """Resolve run ids and experiment names to runs (see the module docstring).

    Raises:
        NothingToCompare: a target is neither a run id nor an experiment name, or has no runs.
    """
    sel = Selection(name="-".join(t[:8] if RUN_ID.match(t) else t for t in targets))
    parents = []
    for target in targets:
        if RUN_ID.match(target):
            run = client.get_run(target)
            kids = _children(client, run)
            if kids:
                parents.append(run)
            sel.runs.extend(kids or [run])
            continue
        exp = client.get_experiment_by_name(target)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise NothingToCompare(f"{target!r} is neither a run id nor an MLflow experiment; experiments: {names}")
        sweeps = client.search_runs([exp.experiment_id], filter_string="tags.`soulchat.role` = 'sweep'",
                                    order_by=["attribute.start_time DESC"], max_results=1)
        if sweeps and not all_runs:
            parents.append(sweeps[0])
            sel.runs.extend(_children(client, sweeps[0]))
        else:
            sel.runs.extend(r for r in client.search_runs([exp.experiment_id], order_by=["attribute.start_time ASC"])
                            if r.data.tags.get("soulchat.role") != "sweep")
    if not sel.runs:
        raise NothingToCompare(f"no runs found for {list(targets)}")
    sel.parent = parents[0] if len(parents) == 1 else None
    return sel


def metric_columns(runs: Sequence[Any]) -> list[str]:
    """The evaluation metrics of the runs, Table 1's first in the paper's order, then the rest sorted
    (every metric when no run has evaluation metrics, e.g. a sweep of the rewrite stage only)."""
    names = sorted({k for r in runs for k in r.data.metrics})
    evaluated = [n for n in names if n.startswith("evaluate/")] or names
    first = [n for col in TABLE1 for n in evaluated if n.split("/")[-1].lower() == col]
    return first + [n for n in evaluated if n not in first]


def rows_of(runs: Sequence[Any], metrics: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """The table: header and one row per run (run name, swept values, status, metric values)."""
    swept = sorted({k for r in runs for k in r.data.tags if k.startswith("sweep.") and k != "sweep.job_num"})
    header = ["run", *[k[len("sweep."):] for k in swept], "status", *metrics]
    rows = []
    for r in runs:
        rows.append([r.info.run_name or r.info.run_id[:8], *[r.data.tags.get(k, "") for k in swept],
                     r.info.status, *[r.data.metrics.get(m, math.nan) for m in metrics]])
    return header, rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4f}"
    return str(v).replace("|", "\\|")


def write_markdown(path: Path, header: list[str], rows: list[list[Any]], title: str) -> str:
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([[("" if isinstance(v, float) and math.isnan(v) else v) for v in row] for row in rows])


def write_png(path: Path, runs: Sequence[Any], metrics: Sequence[str], title: str) -> None:
    """Grouped bars: one group per metric, one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown = [m for m in metrics if any(m in r.data.metrics for r in runs)][:16]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(shown) + 2), 4.5))
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(shown))
    for i, r in enumerate(runs):
        vals = [r.data.metrics.get(m, np.nan) for m in shown]
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=r.info.run_name or r.info.run_id[:8])
    ax.set_xticks(x, [m.split("/")[-1] for m in shown], rotation=30, ha="right")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare_runs(client: Any, targets: Sequence[str], out_dir: Path, log_to: Any = None,
                 all_runs: bool = False) -> tuple[Path, str]:
    """Build the comparison of ``targets`` into ``out_dir``; log it to the sweep's parent run.

    Args:
        log_to: a :class:`~soulchat.tracking.tracker.Tracker` to log to; default: the sweep run the
            runs belong to (if they are one sweep's children).

    Returns:
        The folder and the Markdown table.

    Raises:
        NothingToCompare: see :func:`select_runs`.
    """
    sel = select_runs(client, targets, all_runs)
    metrics = metric_columns(sel.runs)
    header, rows = rows_of(sel.runs, metrics)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"soulchat compare: {sel.name}"
    markdown = write_markdown(out_dir / "compare.md", header, rows, title)
    write_csv(out_dir / "compare.csv", header, rows)
    if metrics:
        write_png(out_dir / "compare.png", sel.runs, metrics, title)
    if log_to is None and sel.parent is not None:
        for f in sorted(out_dir.glob("compare.*")):
            client.log_artifact(sel.parent.info.run_id, str(f), "compare")
    elif log_to is not None:
        for f in sorted(out_dir.glob("compare.*")):
            log_to.log_artifact(f, "compare")
    return out_dir, markdown


def main(argv: list[str] | None = None) -> int:
    from mlflow import MlflowClient
    from rich.console import Console

    from soulchat.tracking.store import split_overrides, tracking_store

    overrides, rest = split_overrides(argv or [])
    parser = argparse.ArgumentParser(prog="soulchat compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="run ids (a sweep id: its children) or experiment names")
    parser.add_argument("--out", help="output folder (default <paths.outputs>/compare/<name>)")
    parser.add_argument("--all", action="store_true", help="an experiment's every run, not only its latest sweep")
    args = parser.parse_args(rest)
    uri, _, outputs = tracking_store(overrides)
    client = MlflowClient(tracking_uri=uri)
    console = Console()
    name = "-".join(t[:8] if RUN_ID.match(t) else t for t in args.targets)
    out = Path(args.out) if args.out else outputs / "compare" / name
    try:
        folder, markdown = compare_runs(client, args.targets, out, all_runs=args.all)
    except NothingToCompare as exc:
        console.print(f"[red]soulchat compare:[/red] {exc}")
        return 2
    print(markdown, flush=True)
    console.print(f"written: {folder}/compare.md, compare.csv, compare.png")
    return 0

