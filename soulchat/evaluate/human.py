"""Human rating on a judge's rubric: blinded sheets out, ratings back in, means and Fleiss' kappa.

:func:`export_sheets` writes, for k raters, the same items (one model's reply to one context) in a
different shuffled order each: ``sheets/rater_<r>.csv`` and ``sheets/rater_<r>.html`` (a
self-contained form that saves the filled CSV in the browser). Items are named ``item-0001``…; the
model behind each item is only in ``key/key.csv``, which must be kept away from the raters.

:func:`import_ratings` reads the filled CSVs back (each value checked: file, line, field), joins them
with the key, and :func:`summarize` gives the mean score per model and dimension and Fleiss' kappa
per dimension (:func:`fleiss_kappa`, agreement over all items, categories 0..max).

The dimensions are the judge's rubric (:class:`soulchat.evaluate.contracts.Rubric`; the default
judge's is CEHS), so the sheets rate what the judge rates.

Command line (``--judge``: whose rubric, default ``rubric``)::

    python -m soulchat.evaluate.human export predictions.jsonl [more.jsonl ...] --raters 3 --samples 100 --out rating/
    python -m soulchat.evaluate.human summarize rating/key/key.csv rating/filled/*.csv
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import random
from pathlib import Path
from typing import Sequence

from soulchat.evaluate.contracts import Rubric, judge_rubric
from soulchat.io import InputError, read_jsonl, stable_hash, write_json

KEY_FIELDS = ("item", "model", "test_set", "sample_id")


def sheet_fields(rubric: Rubric) -> tuple[str, ...]:
    """A rating sheet's columns: the item, what to rate, one per dimension, a comment."""
    return ("item", "context", "reply", *rubric.keys, "comment")


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa for ``counts[i][j]`` = raters who put item i in category j (same n per item).

    Raises:
        ValueError: items rated by different numbers of raters, or fewer than 2 raters.
    """
    n = sum(counts[0]) if counts else 0
    if n < 2 or any(sum(row) != n for row in counts):
        raise ValueError("Fleiss' kappa needs every item rated by the same number (>= 2) of raters")
    items = len(counts)
    p_j = [sum(row[j] for row in counts) / (items * n) for j in range(len(counts[0]))]
    p_i = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in counts]
    p_bar, p_e = sum(p_i) / items, sum(p * p for p in p_j)
    return 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)


def _context(rec: dict) -> str:
    text = rec.get("input") or ""
    return text[: -len("心理咨询师：")].rstrip("\n") if text.endswith("心理咨询师：") else text


def export_sheets(predictions: Sequence[dict], out: Path, rubric: Rubric, raters: int = 3, samples: int = 100,
                  seed: int = 0) -> dict:
    """Write blinded, shuffled rating sheets on ``rubric`` for ``raters`` raters; returns what was written.

    ``predictions`` are generate-stage records (``id``, ``model``, ``test_set``, ``input``,
    ``prediction``) of one or more models; ``samples`` contexts are drawn (by id hash) and every
    model's reply to each is an item.

    Raises:
        ValueError: no predictions, or raters < 2 (agreement needs two).
    """
    if not predictions:
        raise ValueError("no predictions to rate")
    if raters < 2:
        raise ValueError("human rating needs at least 2 raters (Fleiss' kappa)")
    ids = sorted({p["id"] for p in predictions}, key=lambda i: stable_hash([seed, i]))[:samples]
    chosen = set(ids)
    recs = [p for p in predictions if p["id"] in chosen]
    random.Random(seed).shuffle(recs)
    items = [(f"item-{n + 1:04d}", r) for n, r in enumerate(recs)]
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    (out / "key").mkdir(parents=True, exist_ok=True)
    with open(out / "key" / "key.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(KEY_FIELDS)
        for item, r in items:
            w.writerow([item, r.get("model", ""), r.get("test_set", ""), r["id"]])
    for rater in range(1, raters + 1):
        order = list(items)
        random.Random(f"{seed}-{rater}").shuffle(order)
        rows = [{"item": item, "context": _context(r), "reply": r["prediction"]} for item, r in order]
        with open(out / "sheets" / f"rater_{rater}.csv", "w", newline="", encoding="utf-8-sig") as fh:
            w = csv.DictWriter(fh, sheet_fields(rubric))
            w.writeheader()
            w.writerows(rows)
        (out / "sheets" / f"rater_{rater}.html").write_text(html_form(rows, f"rater_{rater}", rubric), encoding="utf-8")
    info = {"raters": raters, "items": len(items), "contexts": len(ids),
            "models": sorted({r.get("model", "") for _, r in items})}
    write_json(out / "key" / "export.json", info)
    return info


def html_form(rows: list[dict], name: str, rubric: Rubric) -> str:
    """A self-contained HTML rating form; its button saves ``<name>_filled.csv`` (sheet layout)."""
    def choice(item: str, dim: str, top: int) -> str:
        return " ".join(f'<label><input type="radio" name="{item}|{dim}" value="{v}">{v}</label>' for v in range(top + 1))

    blocks = []
    for r in rows:
        dims = "".join(f"<div class=dim><b>{d}</b> (0-{top}) {choice(r['item'], d, top)}</div>" for d, top in rubric.scale.items())
        blocks.append(
            f"<section data-item='{html.escape(r['item'])}'><h3>{html.escape(r['item'])}</h3>"
            f"<pre>{html.escape(r['context'])}</pre><p class=reply>{html.escape(r['reply'])}</p>{dims}"
            f"<div><input class=comment placeholder='comment' size=60></div></section>")
    data = json.dumps([{"item": r["item"], "context": r["context"], "reply": r["reply"]} for r in rows], ensure_ascii=False)
    dims = json.dumps(list(rubric.keys))
    title = f"{html.escape(rubric.name)} rating"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title} {html.escape(name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}section{{border-bottom:1px solid #ccc;padding:1em 0}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:.5em}}.reply{{background:#eef6ff;padding:.5em}}.dim{{margin:.2em 0}}</style>
</head><body><h1>{title} ({html.escape(name)})</h1>
<p>{html.escape(rubric.describe())}. Rate every item, then save.</p>
{''.join(blocks)}
<p><button id=save>Save CSV</button> <span id=msg></span></p>
<script>
const DATA={data}, DIMS={dims}, FIELDS={json.dumps(list(sheet_fields(rubric)))};
function q(v){{v=String(v);return /[",\\n\\r]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v}}
document.getElementById('save').onclick=function(){{
  let lines=[FIELDS.join(',')], missing=0;
  for(const r of DATA){{
    const sec=document.querySelector('section[data-item="'+r.item+'"]'); const row=[r.item,r.context,r.reply];
    for(const d of DIMS){{const c=sec.querySelector('input[name="'+r.item+'|'+d+'"]:checked'); if(!c) missing++; row.push(c?c.value:'');}}
    row.push(sec.querySelector('.comment').value); lines.push(row.map(q).join(','));
  }}
  const blob=new Blob(['\\ufeff'+lines.join('\\r\\n')+'\\r\\n'],{{type:'text/csv'}});
  const a=document.createElement('a'); a.href=URL.createObjectURL(blob); a.download='{name}_filled.csv'; a.click();
  document.getElementById('msg').textContent=missing?missing+' scores still empty':'saved';
}};
</script></body></html>"""


def import_ratings(key_path: str | Path, sheet_paths: Sequence[str | Path], rubric: Rubric) -> list[dict]:
    """Filled sheets joined with the key: ``{item, rater, model, test_set, sample_id, <dims>}``.

    Raises:
        InputError: an unknown item, a missing column, or a score that is empty, not an integer or
            out of range (file, line, field).
    """
    key = {}
    with open(key_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key[row["item"]] = row
    out = []
    for path in sheet_paths:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in ("item", *rubric.keys) if f not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, 1, missing[0], "missing column; fill the sheet exported for you")
            for line, row in enumerate(reader, 2):
                if row["item"] not in key:
                    raise InputError(path, line, "item", f"{row['item']!r} is not in {key_path}")
                rec = {"item": row["item"], "rater": Path(path).stem, **{k: key[row["item"]][k] for k in KEY_FIELDS[1:]}}
                for dim, top in rubric.scale.items():
                    v = (row.get(dim) or "").strip()
                    if not v.isdigit() or not 0 <= int(v) <= top:
                        raise InputError(path, line, dim, f"{v!r} is not a score 0-{top}")
                    rec[dim] = int(v)
                out.append(rec)
    return out


def summarize(ratings: Sequence[dict], rubric: Rubric) -> dict:
    """Mean per model and dimension, and Fleiss' kappa per dimension over items every rater rated."""
    models: dict[str, dict[str, list[int]]] = {}
    for r in ratings:
        for dim in rubric.keys:
            models.setdefault(r["model"], {}).setdefault(dim, []).append(r[dim])
    means = {m: {d: sum(v) / len(v) for d, v in dims.items()} for m, dims in models.items()}
    raters = sorted({r["rater"] for r in ratings})
    by_item: dict[str, dict[str, dict]] = {}
    for r in ratings:
        by_item.setdefault(r["item"], {})[r["rater"]] = r
    complete = [rs for rs in by_item.values() if len(rs) == len(raters)]
    kappa = {}
    if len(raters) >= 2 and complete:
        for dim, top in rubric.scale.items():
            counts = [[sum(1 for r in rs.values() if r[dim] == c) for c in range(top + 1)] for rs in complete]
            kappa[dim] = fleiss_kappa(counts)
    return {"raters": raters, "items": len(by_item), "complete_items": len(complete), "means": means, "kappa": kappa}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m soulchat.evaluate.human", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="blinded sheets from predictions.jsonl files")
    ex.add_argument("predictions", nargs="+")
    ex.add_argument("--raters", type=int, default=3)
    ex.add_argument("--samples", type=int, default=100)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", default="rating")
    ex.add_argument("--judge", default="rubric", help="rate on this judge's rubric")
    su = sub.add_parser("summarize", help="means and Fleiss' kappa from filled sheets")
    su.add_argument("key")
    su.add_argument("sheets", nargs="+")
    su.add_argument("--judge", default="rubric", help="the judge whose rubric the sheets were exported with")
    args = ap.parse_args(argv)
    rubric = judge_rubric(args.judge)
    if args.cmd == "export":
        preds = [rec for p in args.predictions for _, rec in read_jsonl(p)]
        print(json.dumps(export_sheets(preds, Path(args.out), rubric, args.raters, args.samples, args.seed), ensure_ascii=False))
    else:
        print(json.dumps(summarize(import_ratings(args.key, args.sheets, rubric), rubric), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
