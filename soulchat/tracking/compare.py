"""``soulchat compare``: a Table-1-style comparison of runs (Markdown, CSV, PNG), logged to the sweep.

    soulchat compare <sweep run id>            # its child runs, one row each
    soulchat compare <run id> <run id> ...     # these runs (a sweep id stands for its children)
    soulchat compare ablation_prompt           # an MLflow experiment: its latest sweep, else all runs
    soulchat compare ablation_prompt --all paths.outputs=/data/out   # every run; another store

Rows are runs (named by their swept values); columns are the evaluation metrics in the paper's
Table 1 layout (B-1..B-4, R-1/2/L, then the CEHS scores), rendered by the evaluate stage's
:func:`soulchat.evaluate.report.build_table`. The files go to ``--out`` (default
``<paths.outputs>/compare/<name>/``) and, when the runs are one sweep's children, to the sweep's
parent run as ``compare/``. The end of every sweep builds this table automatically.
Exit status 2: nothing matched (the message says what was looked for).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


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


def test_set_name(params: dict[str, str]) -> str:
    """The test set's name as the generate stage writes it: test_name, the test file's stem, or corpus."""
    name, file = params.get("generate.test_name", "None"), params.get("generate.test_file", "None")
    if name != "None":
        return name
    return Path(file).name.split(".")[0] if file != "None" else "corpus"


def table_rows(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per run for :func:`soulchat.evaluate.report.build_table`.

    The model is the run's name (its swept values, in a sweep), marked when the run did not finish;
    the metrics are its evaluation metrics without the ``evaluate/`` prefix (Table 1's keys), or,
    when no run was evaluated (e.g. a sweep of the rewrite stage only), every metric by full name.
    """
    evaluated = any(k.startswith("evaluate/") for r in runs for k in r.data.metrics)
    rows = []
    for r in runs:
        name = r.info.run_name or r.info.run_id[:8]
        row: dict[str, Any] = {"test_set": test_set_name(r.data.params),
                               "model": name if r.info.status == "FINISHED" else f"{name} ({r.info.status})"}
        for key, value in r.data.metrics.items():
            if not evaluated:
                row[key] = value
            elif key.startswith("evaluate/"):
                row[key[len("evaluate/"):]] = value
        rows.append(row)
    return rows


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
    from soulchat.evaluate.report import build_table

    sel = select_runs(client, targets, all_runs)
    out_dir = Path(out_dir)
    table = build_table(table_rows(sel.runs), out_dir, "compare", title=f"soulchat compare: {sel.name}")
    markdown = table.markdown
    files = [out_dir / f"compare.{ext}" for ext in ("md", "csv", "png")]
    if log_to is None and sel.parent is not None:
        for f in files:
            client.log_artifact(sel.parent.info.run_id, str(f), "compare")
    elif log_to is not None:
        for f in files:
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

