"""The comparison table in the layout of the paper's Table 1, as Markdown, CSV and PNG.

    build_table(rows, out_dir=None, name="report", title="...", layout=None) -> Table(markdown, csv, columns)

``rows``: one dict per (test set, model) with ``"test_set"``, ``"model"`` and any metric keys
(a metric set's, a judge's rubric means such as CEHS ``content`` … ``safety``; undeclared keys are
appended as extra columns), and, for a row whose rubric means a judge gave, :data:`JUDGE_KEYS`: who
rated (``judge``, e.g. ``heuristic rubric``) and how many of how many replies. Columns and their
headings come from ``layout`` (default: what every registered metric set and judge declares,
:mod:`.layout`), so a new metric set needs no edit here. A value that is missing (e.g. the judge was
skipped) prints as ``–``. Every judged rubric cell shows its n, ``1.92 (64/64)``; a mean of fewer
replies than requested is marked ``1.83 (6/64, partial)`` and never bolded as best, and the rubric
columns of different judges are not ranked against each other; a metric set's value with a declared
n shows it, ``3.12 (n=64)``. With ``out_dir`` the files ``<name>.md``, ``<name>.csv`` (with the
judge and n columns) and ``<name>.png`` are written there. Used by the evaluate stage and by
``soulchat compare`` (rows from MLflow metrics carry the n's).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from soulchat.evaluate.layout import Layout, registered_layout

#: row keys about a row's judge (not metric columns): who rated, replies rated, requested, by a heuristic
JUDGE_KEYS = ("judge", "judge_n_rated", "judge_n_requested", "judge_n_heuristic")


@dataclass
class Table:
    markdown: str
    csv: str
    columns: list[str]  # metric keys, in column order


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _fmt(v: Any) -> str:
    f = _num(v)
    return "–" if f is None else f"{f:.2f}"


def judge_n(row: dict) -> tuple[int, int] | None:
    """(rated, requested) of a row's judge, or None when the row does not say."""
    rated, requested = _num(row.get("judge_n_rated")), _num(row.get("judge_n_requested"))
    return None if rated is None or requested is None else (int(rated), int(requested))


def is_partial(row: dict) -> bool:
    """A row whose rubric means cover fewer replies than were requested."""
    n = judge_n(row)
    return n is not None and n[0] < n[1]


def judge_label(row: dict) -> str:
    """Who gave a row's rubric scores: its ``judge``, else "heuristic" when a heuristic gave any."""
    if row.get("judge"):
        return str(row["judge"])
    return "heuristic" if (_num(row.get("judge_n_heuristic")) or 0) > 0 else ""


def n_note(row: dict) -> str:
    """``64/64`` or ``6/64, partial``; empty when the row has no judge n."""
    n = judge_n(row)
    return "" if n is None else f"{n[0]}/{n[1]}" + (", partial" if n[0] < n[1] else "")


def _cell(row: dict, key: str, layout: Layout) -> str:
    n = judge_n(row) if key in layout.rubric else None
    if n is None:
        count = _num(row.get(layout.n.get(key, "")))
        if count is not None and _num(row.get(key)) is not None:
            return f"{_fmt(row.get(key))} (n={int(count)})"
        return _fmt(row.get(key))
    return f"{_fmt(row.get(key))} ({n_note(row) if _num(row.get(key)) is not None else f'{n[0]}/{n[1]}'})"


def _group(row: dict, key: str, layout: Layout) -> tuple[str, str]:
    """Rows ranked together for ``key``: one test set and, for rubric columns, one judge."""
    return (str(row.get("test_set", "")), judge_label(row) if key in layout.rubric else "")


def _rankable(row: dict, key: str, layout: Layout) -> bool:
    if key in layout.rubric:
        return not is_partial(row)
    return key in layout.ranked


def _best(rows: Sequence[dict], layout: Layout) -> dict[tuple[tuple[str, str], str], float]:
    """The value to bold per (group, column), where a group has more than one rankable row."""
    values: dict[tuple[tuple[str, str], str], list[float]] = {}
    for r in rows:
        for k in r:
            f = _num(r.get(k))
            if f is not None and _rankable(r, k, layout):
                values.setdefault((_group(r, k, layout), k), []).append(f)
    return {gk: max(v) for gk, v in values.items() if len(v) > 1}


def build_table(rows: Sequence[dict], out_dir: str | Path | None = None, name: str = "report",
                title: str = "Evaluation results (layout of SoulChat's Table 1)",
                layout: Optional[Layout] = None) -> Table:
    """The table of ``rows`` (see the module docstring); writes ``<name>.md/.csv/.png`` to ``out_dir``."""
    layout = layout or registered_layout()
    judged = any(judge_n(r) is not None for r in rows)
    counts = set(layout.n.values())
    # a judged row shows its rubric's columns even when the judge rated nothing ("– (0/64)")
    shown = {k for rb in _rubrics(rows, layout) for k in rb.keys} if judged else set()
    keys = [k for k in layout.headings if any(k in r for r in rows) or k in shown]
    keys += sorted({k for r in rows for k in r} - set(keys) - counts - {"test_set", "model", *JUDGE_KEYS})
    meta = [k for k in JUDGE_KEYS if any(k in r for r in rows)]
    # the CSV has each declared n beside its value
    values = [c for k in keys for c in (k, layout.n.get(k)) if c == k or (c and any(c in r for r in rows))]
    cehs_by = any(judge_label(r) for r in rows)
    # "<rubric> by" (who rated) follows the rubric's columns
    at = max((keys.index(k) + 1 for k in layout.rubric if k in keys), default=len(keys)) if cehs_by else -1
    heads = [layout.headings.get(k, k) for k in keys]
    align = ["---:"] * len(keys)
    if cehs_by:
        heads.insert(at, f"{_rubric_name(rows, layout)} by")
        align.insert(at, "---")
    rows = sorted(rows, key=lambda r: (str(r.get("test_set", "")), str(r.get("model", ""))))
    best = _best(rows, layout)  # bold the best value of each ranked column, as the paper does
    lines = [f"**{title}**", "", "| " + " | ".join(["Test set", "Model", *heads]) + " |",
             "|" + "---|" * 2 + "".join(a + "|" for a in align)]
    for r in rows:
        cells = []
        for k in keys:
            cell, f = _cell(r, k, layout), _num(r.get(k))
            if f is not None and _rankable(r, k, layout) and f == best.get((_group(r, k, layout), k)):
                cell = f"**{cell}**"
            cells.append(cell)
        if cehs_by:
            cells.insert(at, judge_label(r) or "–")
        lines.append(f"| {r.get('test_set', '')} | {r.get('model', '')} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["test_set", "model", *values, *meta])
    for r in rows:
        w.writerow([r.get("test_set", ""), r.get("model", ""), *("" if _num(r.get(k)) is None else _num(r.get(k)) for k in values),
                    *(judge_label(r) if k == "judge" else ("" if _num(r.get(k)) is None else int(_num(r.get(k))))
                      for k in meta)])
    table = Table(markdown, buf.getvalue(), keys)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(markdown, encoding="utf-8")
        (out / f"{name}.csv").write_text(table.csv, encoding="utf-8")
        write_png(out / f"{name}.png", rows, title, layout)
    return table


def _rubrics(rows: Sequence[dict], layout: Layout) -> list:
    """The rubrics whose dimensions ``rows`` hold; none: the first registered (the default judge's)."""
    found = [rb for rb in layout.rubrics if any(k in r for r in rows for k in rb.keys)]
    return found or list(layout.rubrics[:1])


def _rubric_name(rows: Sequence[dict], layout: Layout) -> str:
    names = list(dict.fromkeys(r.name for r in _rubrics(rows, layout)))
    return names[0] if len(names) == 1 else "Rubric"


def rubric_title(rows: Sequence[dict], layout: Layout) -> str:
    """The rubric panel's title, naming who rated when one judge rated every row."""
    labels = {judge_label(r) for r in rows if any(_num(r.get(k)) is not None for k in layout.rubric)}
    by = f" by {labels.pop()}" if len(labels) == 1 and "" not in labels else ""
    ranges = list(dict.fromkeys(r.ranges() for r in _rubrics(rows, layout)))
    return f"{_rubric_name(rows, layout)}{by}" + (f" ({ranges[0]})" if len(ranges) == 1 else "")


def figure(rows: Sequence[dict], title: str, layout: Optional[Layout] = None) -> Any:
    """Grouped bars, one group per column, one bar per row, one panel per declared panel (e.g.
    automatic 0–100, the rubric, the empathy lexicon %).

    Each row's legend entry carries its judge n; a partial row's rubric bars are hatched.
    """
    from soulchat.plotting import pyplot

    plt = pyplot()
    layout = layout or registered_layout()
    dims = tuple(k for rb in _rubrics(rows, layout) for k in rb.keys)
    def measured(keys: Sequence[str]) -> tuple[str, ...]:  # a column no row has is not drawn as an empty slot
        return tuple(k for k in keys if any(_num(r.get(k)) is not None for r in rows))

    panels = [(p or rubric_title(rows, layout), measured(ks if p else dims)) for p, ks in layout.panels]
    panels = [(label, ks) for label, ks in panels if ks]
    if not panels:  # none of Table 1's columns (e.g. runs that were not evaluated): plot what there is
        others = sorted({k for r in rows for k in r
                         if k not in ("test_set", "model", *JUDGE_KEYS) and _num(r.get(k)) is not None})
        panels = [("Metrics", tuple(others[:12]))] if others else []
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)) + 1, 4), squeeze=False)
    for ax, (label, ks) in zip(axes[0], panels):
        width = 0.8 / max(1, len(rows))
        for i, r in enumerate(rows):
            vals = [_num(r.get(k)) or 0.0 for k in ks]
            note = n_note(r)
            hatch = "//" if ks == dims and is_partial(r) else None
            ax.bar([x + i * width for x in range(len(ks))], vals, width, hatch=hatch,
                   label=f"{r.get('test_set')} / {r.get('model')}" + (f" ({_rubric_name(rows, layout)} n {note})" if note else ""))
        ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(ks))])
        ax.set_xticklabels([layout.headings.get(k, k) for k in ks], rotation=45, ha="right")
        ax.set_title(label)
    if panels:
        axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_png(path: Path, rows: Sequence[dict], title: str, layout: Optional[Layout] = None) -> None:
    """:func:`figure` saved to ``path``."""
    from soulchat.plotting import pyplot

    fig = figure(rows, title, layout)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
