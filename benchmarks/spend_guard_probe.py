"""Spend guards under injected faults: the same rewrite job run several times against the local server.

Each run is the rewrite stage as the pipeline runs it (``pipeline.run_stage``) with one guard; the
server drops, fails and hangs a share of the requests. Printed per run: the requests the server
received in total, what it computed answers for (its "bill" at the endpoint's prices; a dropped
request is not computed, a hung one is), and the stage's one-line outcome.

    python benchmarks/spend_guard_probe.py max_requests=40
    python benchmarks/spend_guard_probe.py max_cost=0.03 --runs 5 --answers 100
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("guard", help="an endpoint setting, e.g. max_requests=40 or max_cost=0.03")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--answers", type=int, default=100)
    args = parser.parse_args()

    os.environ.setdefault("OPENAI_API_KEY", "sk-probe")
    os.environ["SOULCHAT_OUTPUTS"] = tempfile.mkdtemp(prefix="spend-guard-")
    from soulchat import pipeline
    from soulchat.config import compose
    from soulchat.errors import SoulchatError
    from soulchat.testing.llm_server import TestServer, default_responder

    faults = {"500": 0.15, "drop": 0.10, "timeout": 0.05}
    with TestServer(faults=faults, retry_after=0.01, hang_s=0.5, seed=1) as server:
        overrides = server.overrides(max_retries=3, timeout_s=0.3) + [
            "stages=[rewrite]", "tracking.enabled=false", f"rewrite.limit={args.answers}",
            "rewrite.concurrency=16", f"endpoint.{args.guard}"]
        for run in range(1, args.runs + 1):
            cfg = compose(overrides)
            run_dir = Path(os.environ["SOULCHAT_OUTPUTS"]) / f"run{run}"
            run_dir.mkdir()
            try:
                pipeline.run_stage("rewrite", cfg, pipeline.plan(cfg), run_dir)
                outcome = "finished"
            except SoulchatError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            prices = cfg.endpoint.prices_per_1k
            computed = [e.body for e in server.log if e.fault in (None, "timeout")]
            bill = sum(sum(len(m["content"]) for m in b["messages"]) * prices.input
                       + len(default_responder(b)) * prices.output for b in computed) / 1000
            print(f"run {run}: {server.count()} requests received in all, answers computed worth {bill:.4f}; {outcome}")


if __name__ == "__main__":
    main()
