"""The comparison table in the layout of the paper's Table 1, as Markdown, CSV and PNG.

    build_table(rows, out_dir=None, name="report", title="...") -> Table(markdown, csv, columns)

``rows``: one dict per (test set, model) with ``"test_set"``, ``"model"`` and any metric keys
(``bleu-1`` … ``rouge-l``, the CEHS means ``content`` / ``empathy`` / ``helpfulness`` /
``safety``, the ``diversity`` and ``empathy``-lexicon keys; others are appended as extra
columns). Columns appear in :data:`COLUMNS` order under the paper's headings (B-1 … Saf.); a
value that is missing (e.g. the judge was skipped) prints as ``–``. With ``out_dir`` the files
``<name>.md``, ``<name>.csv`` and ``<name>.png`` are written there. Used by the evaluate stage and
reusable by ``soulchat compare``.
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


def build_table(rows: Sequence[dict], out_dir: str | Path | None = None, name: str = "report",
                title: str = "Evaluation results (layout of SoulChat's Table 1)") -> Table:
    """The table of ``rows`` (see the module docstring); writes ``<name>.md/.csv/.png`` to ``out_dir``."""
    keys = [k for k in COLUMNS if any(k in r for r in rows)]
    keys += sorted({k for r in rows for k in r} - set(keys) - {"test_set", "model"})
    heads = ["Test set", "Model"] + [COLUMNS.get(k, k) for k in keys]
    rows = sorted(rows, key=lambda r: (str(r.get("test_set", "")), str(r.get("model", ""))))
    # bold the best value of each automatic / manual column within a test set, as the paper does
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        for k in (*AUTOMATIC, *MANUAL):
            f = _num(r.get(k))
            if f is not None:
                best[(r.get("test_set", ""), k)] = max(f, best.get((r.get("test_set", ""), k), -math.inf))
    lines = [f"**{title}**", "", "| " + " | ".join(heads) + " |", "|" + "---|" * 2 + "---:|" * len(keys)]
    for r in rows:
        cells = []
        for k in keys:
            cell = _fmt(r.get(k))
            f = _num(r.get(k))
            multi = sum(1 for o in rows if o.get("test_set") == r.get("test_set")) > 1
            if multi and f is not None and k in (*AUTOMATIC, *MANUAL) and f == best.get((r.get("test_set", ""), k)):
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {r.get('test_set', '')} | {r.get('model', '')} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["test_set", "model", *keys])
    for r in rows:
        w.writerow([r.get("test_set", ""), r.get("model", ""), *("" if _num(r.get(k)) is None else _num(r.get(k)) for k in keys)])
    table = Table(markdown, buf.getvalue(), keys)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(markdown, encoding="utf-8")
        (out / f"{name}.csv").write_text(table.csv, encoding="utf-8")
        write_png(out / f"{name}.png", rows, title)
    return table


def write_png(path: Path, rows: Sequence[dict], title: str) -> None:
    """Grouped bars, one group per column, one bar per row: automatic (0–100), CEHS (0–2), lexicon (%)."""
    from soulchat.plotting import pyplot

    plt = pyplot()

    panels = [(p, ks) for p, ks in (("Automatic (0-100)", AUTOMATIC), ("CEHS (0-2; Saf. 0-1)", MANUAL),
                                    ("Empathy lexicon (% of replies)", LEXICON))
              if any(_num(r.get(k)) is not None for r in rows for k in ks)]
    if not panels:  # none of Table 1's columns (e.g. runs that were not evaluated): plot what there is
        others = sorted({k for r in rows for k in r if k not in ("test_set", "model") and _num(r.get(k)) is not None})
        panels = [("Metrics", tuple(others[:12]))] if others else []
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)) + 1, 4), squeeze=False)
    for ax, (label, ks) in zip(axes[0], panels):
        width = 0.8 / max(1, len(rows))
        for i, r in enumerate(rows):
            vals = [_num(r.get(k)) or 0.0 for k in ks]
            ax.bar([x + i * width for x in range(len(ks))], vals, width, label=f"{r.get('test_set')} / {r.get('model')}")
        ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(ks))])
        ax.set_xticklabels([COLUMNS.get(k, k) for k in ks], rotation=45, ha="right")
        ax.set_title(label)
    if panels:
        axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
