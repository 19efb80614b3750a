"""The HTML rating form, filled and saved in a real DOM (jsdom under Node), imported back.

Needs ``node`` and ``npm`` (jsdom is installed once under ``outputs/node``, from the npm registry);
skipped where they are absent.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "outputs" / "node"

FILL = r"""
const fs = require('fs');
const { JSDOM } = require('jsdom');
const [html, choices, out] = [fs.readFileSync(process.argv[2], 'utf8'), JSON.parse(process.argv[3]), process.argv[4]];
const dom = new JSDOM(html, { runScripts: 'dangerously', url: 'file:///sheet.html' });
const { window } = dom, doc = window.document;
let saved = null, filename = null;
window.URL.createObjectURL = (blob) => { saved = blob; return 'blob:sheet'; };
window.HTMLAnchorElement.prototype.click = function () { filename = this.download; };
// a rater clicks one radio button per item and dimension, and writes a comment
for (const sec of doc.querySelectorAll('section[data-item]')) {
  const item = sec.getAttribute('data-item');
  for (const [dim, value] of Object.entries(choices[item])) {
    sec.querySelector(`input[name="${item}|${dim}"][value="${value}"]`).click();
  }
  sec.querySelector('.comment').value = 'ok, "fine"\nsecond line';
}
doc.getElementById('save').click();
const reader = new window.FileReader();
reader.onload = () => {
  fs.writeFileSync(out, Buffer.from(reader.result));
  console.log(JSON.stringify({ filename, message: doc.getElementById('msg').textContent }));
};
reader.readAsArrayBuffer(saved);
"""


@pytest.fixture(scope="module")
def node_with_jsdom():
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("needs node and npm (jsdom) to run the form's script")
    if not (NODE_DIR / "node_modules" / "jsdom").exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NODE_DIR),
                              "jsdom@24"], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    return NODE_DIR


PREDS = [
    {"id": f"s{i}", "test_set": "corpus", "model": model, "input": f"用户：第{i}个问题，有逗号,和引号\"。\n心理咨询师：",
     "reference": "嗯。", "prediction": f"{model} 的回复 {i}"}
    for i in range(3) for model in ("tiny+full", "chatgpt")
]


def test_html_form_saves_a_csv_that_imports_back(node_with_jsdom, tmp_path):
    from soulchat.evaluate import human
    from soulchat.evaluate.judge import CEHS

    info = human.export_sheets(PREDS, tmp_path / "human", CEHS, raters=2, samples=10, seed=1)
    sheets = sorted((tmp_path / "human" / "sheets").glob("rater_*.html"))
    assert len(sheets) == 2, info
    filled = tmp_path / "human" / "filled"
    filled.mkdir()
    script = tmp_path / "fill.js"
    script.write_text(FILL, encoding="utf-8")
    chosen = {}
    for r, sheet in enumerate(sheets):
        with open(sheet.with_suffix(".csv"), newline="", encoding="utf-8-sig") as fh:
            items = [row["item"] for row in csv.DictReader(fh)]
        # rater 0 gives every item 2/1/1/1; rater 1 agrees on content and safety, differs elsewhere
        choices = {it: {"content": 2, "empathy": 1 + r, "helpfulness": 1 - r, "safety": 1} for it in items}
        chosen[sheet.stem] = choices
        out = filled / f"{sheet.stem}.csv"
        res = subprocess.run(["node", str(script), str(sheet), json.dumps(choices), str(out)],
                             cwd=node_with_jsdom, capture_output=True, text=True, timeout=120,
                             env={"NODE_PATH": str(node_with_jsdom / "node_modules"), "PATH": "/usr/bin:/bin"})
        assert res.returncode == 0, res.stderr[-2000:]
        result = json.loads(res.stdout.strip().splitlines()[-1])
        assert result == {"filename": f"{sheet.stem}_filled.csv", "message": "saved"}

    ratings = human.import_ratings(tmp_path / "human" / "key" / "key.csv", sorted(filled.glob("*.csv")), CEHS)
    assert len(ratings) == 2 * len(PREDS)
    for rating in ratings:
        want = chosen[rating["rater"]][rating["item"]]
        assert {d: rating[d] for d in want} == want
    summary = human.summarize(ratings, CEHS)
    assert summary["means"]["tiny+full"]["empathy"] == pytest.approx(1.5)
    # empathy: on every item one rater says 1 and the other 2 -> observed agreement 0, chance 0.5
    assert summary["kappa"]["empathy"] == pytest.approx(-1.0)
