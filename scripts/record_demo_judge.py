"""Write the bundled judge store: CEHS ratings for the default runs' replies, for the offline default.

The rewrite stage's offline default reads recorded answers (``record_demo_store.py``); the CEHS judge
does the same. This script runs the default recipes on this machine up to the generate stage (the
fine-tuned tiny model and the untrained baseline), takes every reply the judge can be asked about —
the predictions and the test set's references for the same contexts — and stores, under exactly the
key a live judge run computes (same code: ``CEHSJudge.request`` and ``LLMClient.key_for``, attempt
1), the rubric JSON a judge would answer. The evaluate stage then goes through the real client and
parser, and its report says the answers came from the store.

The answers are written by the rubric heuristic of ``soulchat/evaluate/rubric.py`` (what
``judge=rubric`` computes live), **not by an LLM**; every stored reason starts with
``[recorded: heuristic rater, scripts/record_demo_judge.py]`` so that a report never passes them off
as a model's judgement. They let ``judge=cehs`` replay answers offline; they match only replies
sampled exactly as on the recording machine (another CPU's rounding changes most of them), which is
why the default judge is ``rubric``. For research numbers, set ``judge.base_url`` and ``judge.model``.

    python scripts/record_demo_judge.py          # rewrites soulchat/data/demo/judge_store.sqlite
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from soulchat.config import DATA_DIR, compose
from soulchat.evaluate.judge import CEHS
from soulchat.evaluate.judge import HEURISTIC_MARK as MARK
from soulchat.evaluate.rubric import rate
from soulchat.io import read_jsonl
from soulchat.llm.store import ResponseStore
from soulchat.registry import build

DEMO = DATA_DIR / "demo"
ROOT = Path(__file__).resolve().parent.parent
#: recipe -> the command-line overrides of the runs whose replies are recorded
RECIPES = {
    "soulchat_full": ["+experiment=soulchat_full"],
    "untrained": ["+experiment=soulchat_full", "+experiment/baseline=untrained"],
}


def record(reply: str, known: set[str]) -> dict:
    """The rubric JSON stored for one reply: what ``judge=rubric`` gives it, its reason marked as recorded."""
    rating = rate(reply, known)
    return {**rating, "reason": f"{MARK} {rating['reason']}"}


def predictions(overrides: list[str], outputs: Path) -> list[dict]:
    """Run a recipe up to generate (in its own process, as a user would) and read its predictions."""
    cmd = [sys.executable, "-m", "soulchat", *overrides, f"paths.outputs={outputs}",
           "stages=[rewrite,corpus,train,generate]", "tracking.enabled=false"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    files = sorted((outputs / "cache" / "generate").glob("*/predictions.jsonl"))
    if len(files) != 1:
        sys.exit(f"{outputs}: expected one predictions.jsonl, found {len(files)}")
    return [rec for _, rec in read_jsonl(files[0])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEMO / "judge_store.sqlite")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "record_demo_judge",
                        help="outputs folder of the recipes' runs (kept: a rerun reuses its cache)")
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    args = parser.parse_args(argv)
    tmp = args.out.with_suffix(".tmp.sqlite")
    tmp.unlink(missing_ok=True)
    store = ResponseStore(tmp)
    seen: set[str] = set()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    cfg = compose(["experiment=soulchat_full", "judge=cehs", f"judge.store={work}/unused.sqlite", "judge.recorded=[]"])
    rubric = compose(["judge=rubric"]).judge
    judge = build("judge", cfg.judge)  # only for its request and key functions: nothing is sent
    known = build("judge", rubric).known  # the 4-grams judge=rubric's fluency test knows
    for name in args.recipes:
        preds = predictions(RECIPES[name], work / name)
        samples = [(name, p) for p in preds] + [("reference", {**p, "prediction": p["reference"]}) for p in preds]
        scores = []
        for source, sample in samples:
            req = judge.request(sample)
            key = judge.client.key_for(req, 1)
            if key in seen:
                continue
            seen.add(key)
            rating = record(sample["prediction"], known)
            scores.append(rating)
            text = json.dumps(rating, ensure_ascii=False)
            store.put(judge.client.recording(req, text, source))
        means = {d: sum(s[d] for s in scores) / max(1, len(scores)) for d in CEHS.keys}
        print(f"{name}: {len(preds)} predictions, {len(scores)} new answers recorded; means {means}")
    store.publish(args.out)  # one self-contained file in the repository
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(seen)} answers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
