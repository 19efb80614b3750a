"""The comparison table in the layout of the paper's Table 1, as Markdown, CSV and PNG.

    build_table(rows, out_dir=None, name="report", title="...") -> Table(markdown, csv, columns)

``rows``: one dict per (test set, model) with ``"test_set"``, ``"model"`` and any metric keys
(``bleu-1`` … ``rouge-l``, the CEHS means ``content`` / ``empathy`` / ``helpfulness`` /
``safety``, the ``diversity`` and ``empathy``-lexicon keys; others are appended as extra
columns), and, for a row whose CEHS means a judge gave, :data:`JUDGE_KEYS`: who rated
(``judge``, e.g. ``heuristic rubric``) and how many of how many replies. Columns appear in
:data:`COLUMNS` order under the paper's headings (B-1 … Saf.); a value that is missing (e.g. the
judge was skipped) prints as ``–``. Every judged CEHS cell shows its n, ``1.92 (64/64)``; a mean of
fewer replies than requested is marked ``1.83 (6/64, partial)`` and never bolded as best, and the
CEHS columns of different judges are not ranked against each other. With ``out_dir`` the files
``<name>.md``, ``<name>.csv`` (with the judge and n columns) and ``<name>.png`` are written there.
Used by the evaluate stage and by ``soulchat compare`` (rows from MLflow metrics carry the n's).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

#: metric key -> heading, in Table 1's order, then diversity and the empathy lexicon
COLUMNS: dict[str, str] = {
    "bleu-1": "B-1", "bleu-2": "B-2", "bleu-3": "B-3", "bleu-4": "B-4",
    "rouge-1": "R-1", "rouge-2": "R-2", "rouge-l": "R-L",
    "content": "Con.", "empathy": "Emp.", "helpfulness": "Hel.", "safety": "Saf.",
    "distinct-1": "D-1", "distinct-2": "D-2", "distinct-1-words": "D-1w", "distinct-2-words": "D-2w",
    "length": "Len.",
    "questioning": "Ques.%", "comfort": "Comf.%", "recognition": "Recog.%", "listening": "List.%",
    "trust": "Trust%", "emotional-support": "Supp.%", "interpretation": "Interp.%",
    "question-rate": "?%", "advice-list": "Advice%",
}
AUTOMATIC = tuple(list(COLUMNS)[:7])
MANUAL = ("content", "empathy", "helpfulness", "safety")
LEXICON = tuple(list(COLUMNS)[16:])
#: row keys about a row's CEHS judge (not metric columns): who rated, replies rated, requested, by a heuristic
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
    """(rated, requested) of a row's CEHS judge, or None when the row does not say."""
    rated, requested = _num(row.get("judge_n_rated")), _num(row.get("judge_n_requested"))
    return None if rated is None or requested is None else (int(rated), int(requested))


def is_partial(row: dict) -> bool:
    """A row whose CEHS means cover fewer replies than were requested."""
    n = judge_n(row)
    return n is not None and n[0] < n[1]


def judge_label(row: dict) -> str:
    """Who gave a row's CEHS scores: its ``judge``, else "heuristic" when a heuristic gave any."""
    if row.get("judge"):
        return str(row["judge"])
    return "heuristic" if (_num(row.get("judge_n_heuristic")) or 0) > 0 else ""


def n_note(row: dict) -> str:
    """``64/64`` or ``6/64, partial``; empty when the row has no judge n."""
    n = judge_n(row)
    return "" if n is None else f"{n[0]}/{n[1]}" + (", partial" if n[0] < n[1] else "")


def _cell(row: dict, key: str) -> str:
    n = judge_n(row) if key in MANUAL else None
    if n is None:
        return _fmt(row.get(key))
    return f"{_fmt(row.get(key))} ({n_note(row) if _num(row.get(key)) is not None else f'{n[0]}/{n[1]}'})"


def _group(row: dict, key: str) -> tuple[str, str]:
    """Rows ranked together for ``key``: one test set and, for CEHS columns, one judge."""
    return (str(row.get("test_set", "")), judge_label(row) if key in MANUAL else "")


def _best(rows: Sequence[dict]) -> dict[tuple[tuple[str, str], str], float]:
    """The value to bold per (group, column), where a group has more than one rankable row."""
    values: dict[tuple[tuple[str, str], str], list[float]] = {}
    for r in rows:
        for k in (*AUTOMATIC, *MANUAL):
            f = _num(r.get(k))
            if f is not None and not (k in MANUAL and is_partial(r)):
                values.setdefault((_group(r, k), k), []).append(f)
    return {gk: max(v) for gk, v in values.items() if len(v) > 1}


def build_table(rows: Sequence[dict], out_dir: str | Path | None = None, name: str = "report",
                title: str = "Evaluation results (layout of SoulChat's Table 1)") -> Table:
    """The table of ``rows`` (see the module docstring); writes ``<name>.md/.csv/.png`` to ``out_dir``."""
    judged = any(judge_n(r) is not None for r in rows)
    keys = [k for k in COLUMNS if any(k in r for r in rows) or (judged and k in MANUAL)]
    keys += sorted({k for r in rows for k in r} - set(keys) - {"test_set", "model", *JUDGE_KEYS})
    meta = [k for k in JUDGE_KEYS if any(k in r for r in rows)]
    cehs_by = any(judge_label(r) for r in rows)
    # "CEHS by" (who rated) follows the CEHS columns
    at = max((keys.index(k) + 1 for k in MANUAL if k in keys), default=len(keys)) if cehs_by else -1
    heads = [COLUMNS.get(k, k) for k in keys]
    align = ["---:"] * len(keys)
    if cehs_by:
        heads.insert(at, "CEHS by")
        align.insert(at, "---")
    rows = sorted(rows, key=lambda r: (str(r.get("test_set", "")), str(r.get("model", ""))))
    best = _best(rows)  # bold the best value of each automatic / manual column, as the paper does
    lines = [f"**{title}**", "", "| " + " | ".join(["Test set", "Model", *heads]) + " |",
             "|" + "---|" * 2 + "".join(a + "|" for a in align)]
    for r in rows:
        cells = []
        for k in keys:
            cell, f = _cell(r, k), _num(r.get(k))
            rankable = f is not None and k in (*AUTOMATIC, *MANUAL) and not (k in MANUAL and is_partial(r))
            if rankable and f == best.get((_group(r, k), k)):
                cell = f"**{cell}**"
            cells.append(cell)
        if cehs_by:
            cells.insert(at, judge_label(r) or "–")
        lines.append(f"| {r.get('test_set', '')} | {r.get('model', '')} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["test_set", "model", *keys, *meta])
    for r in rows:
        w.writerow([r.get("test_set", ""), r.get("model", ""), *("" if _num(r.get(k)) is None else _num(r.get(k)) for k in keys),
                    *(judge_label(r) if k == "judge" else ("" if _num(r.get(k)) is None else int(_num(r.get(k))))
                      for k in meta)])
    table = Table(markdown, buf.getvalue(), keys)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(markdown, encoding="utf-8")
        (out / f"{name}.csv").write_text(table.csv, encoding="utf-8")
        write_png(out / f"{name}.png", rows, title)
    return table


def cehs_title(rows: Sequence[dict]) -> str:
    """The CEHS panel's title, naming who rated when one judge rated every row."""
    labels = {judge_label(r) for r in rows if any(_num(r.get(k)) is not None for k in MANUAL)}
    by = f" by {labels.pop()}" if len(labels) == 1 and "" not in labels else ""
    return f"CEHS{by} (0-2; Saf. 0-1)"


def figure(rows: Sequence[dict], title: str) -> Any:
    """Grouped bars, one group per column, one bar per row: automatic (0–100), CEHS (0–2), lexicon (%).

    Each row's legend entry carries its CEHS n; a partial row's CEHS bars are hatched.
    """
    from soulchat.plotting import pyplot

    plt = pyplot()

    panels = [(p, ks) for p, ks in (("Automatic (0-100)", AUTOMATIC), (cehs_title(rows), MANUAL),
                                    ("Empathy lexicon (% of replies)", LEXICON))
              if any(_num(r.get(k)) is not None for r in rows for k in ks)]
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
            hatch = "//" if ks is MANUAL and is_partial(r) else None
            ax.bar([x + i * width for x in range(len(ks))], vals, width, hatch=hatch,
                   label=f"{r.get('test_set')} / {r.get('model')}" + (f" (CEHS n {note})" if note else ""))
        ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(ks))])
        ax.set_xticklabels([COLUMNS.get(k, k) for k in ks], rotation=45, ha="right")
        ax.set_title(label)
    if panels:
        axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_png(path: Path, rows: Sequence[dict], title: str) -> None:
    """:func:`figure` saved to ``path``."""
    from soulchat.plotting import pyplot

    fig = figure(rows, title)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
