"""What tracking costs a job: our Tracker (batched, redacted) vs MLflow's per-call client logging.

For each round a fresh run is opened on a real SQLite store and filled the way a pipeline job
fills it: the curated params of the real composed config (about 120), 12 tags, a training curve
(``--steps`` points of 3 metrics), 40 evaluation metrics, the resolved config as an artifact, and
finished. Two ways, same content:

- ``per-call`` (baseline): ``MlflowClient.log_param`` / ``set_tag`` / ``log_metric`` one value at a
  time, no redaction (what a naive logger does);
- ``tracker``: :class:`soulchat.tracking.tracker.Tracker` (``log_batch`` chunks, every value redacted).

Also timed: redacting a 1 MB log text (the cost the log-record factory adds is per message).
The goal: the tracker costs no more than the baseline (ratio <= 1) despite redacting everything.

    python benchmarks/tracking_bench.py               # 3 rounds, curve of 100 steps
    python benchmarks/tracking_bench.py --rounds 5 --steps 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def job_content(steps: int) -> tuple[dict, dict, list[tuple[str, float, int]], str]:
    from soulchat.config import compose
    from soulchat.tracking.meta import flat_params
    from soulchat.tracking.redact import config_yaml

    cfg = compose(["experiment=soulchat_full"])
    params = flat_params(cfg)
    tags = {f"choice.g{i}": f"option{i}" for i in range(12)}
    metrics = [(f"train/{m}", 1.0 / (s + 1), s) for s in range(steps) for m in ("loss", "lr", "grad_norm")]
    metrics += [(f"evaluate/m{i}", i / 40, 0) for i in range(40)]
    return params, tags, metrics, config_yaml(cfg)


def per_call(uri: str, params: dict, tags: dict, metrics: list, config: str) -> float:
    from mlflow import MlflowClient

    t0 = time.perf_counter()
    from soulchat.tracking.tracker import experiment_id

    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id(client, "bench", None)).info.run_id  # artifacts next to the db
    for k, v in params.items():
        client.log_param(run_id, k, v)
    for k, v in tags.items():
        client.set_tag(run_id, k, v)
    for k, v, step in metrics:
        client.log_metric(run_id, k, v, step=step)
    client.log_text(run_id, config, "config/resolved.yaml")
    client.set_terminated(run_id)
    return time.perf_counter() - t0


def tracker(uri: str, params: dict, tags: dict, metrics: list, config: str) -> float:
    from soulchat.tracking.tracker import Tracker

    t0 = time.perf_counter()
    with Tracker(uri, "bench", None, None, tags=tags) as tr:
        tr.log_params(params)
        by_step: dict[int, dict[str, float]] = {}
        for k, v, step in metrics:
            by_step.setdefault(step, {})[k] = v
        for step, values in by_step.items():  # a training loop logs one step's values at a time
            tr.log_metrics(values, step)
        tr.log_text(config, "config/resolved.yaml")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    from soulchat.tracking.redact import redact_text
    from soulchat.tracking.tracker import ensure_store

    params, tags, metrics, config = job_content(args.steps)
    times: dict[str, list[float]] = {"per-call": [], "tracker": []}
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        ensure_store(uri)
        per_call(uri, params, tags, metrics, config)  # warm-up: imports, experiment
        for _ in range(args.rounds):
            times["per-call"].append(per_call(uri, params, tags, metrics, config))
            times["tracker"].append(tracker(uri, params, tags, metrics, config))
    text = ("step 12 loss 1.234 lr 3e-3 用户：你好 心理咨询师：我在听 url http://127.0.0.1:9/v1\n" * 12000)[:1_000_000]
    t0 = time.perf_counter()
    redact_text(text)
    redact_s = time.perf_counter() - t0

    base = statistics.median(times["per-call"])
    table = Table(title=f"tracking one job: {len(params)} params, {len(tags)} tags, {len(metrics)} metric values "
                        f"({args.steps} steps), config artifact; median of {args.rounds}")
    for col in ("way", "seconds", "ratio to per-call"):
        table.add_column(col)
    for way, ts in times.items():
        med = statistics.median(ts)
        table.add_row(way, f"{med:.3f}", f"{med / base:.3f}")
    console = Console(width=120)
    console.print(table)
    console.print(f"redacting 1 MB of log text: {redact_s * 1000:.1f} ms")
    ratio = statistics.median(times["tracker"]) / base
    console.print(f"goal tracker/per-call <= 1: {'met' if ratio <= 1 else 'NOT met'} ({ratio:.3f})")
    return 0 if ratio <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
