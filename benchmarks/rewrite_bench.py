"""Rewrite throughput against a 200 ms server: the whole stage vs the bare openai client vs the bound.

The local test server runs in its own process and answers every chat request after ``--latency``
seconds. For each concurrency, the same number of fresh (unstored) requests goes through

- ``bare``: ``openai.AsyncOpenAI`` alone, ``concurrency`` workers, nothing else (the baseline);
- ``bare + aiohttp``: the same with the SDK's ``DefaultAioHttpClient`` transport, which the stage's
  client uses: it shows how much of the stage's lead over the baseline is the transport;
- ``stage``: the rewrite stage as the pipeline runs it (read the source, render the prompt, the LLM
  client with its limits and retries, the SQLite store committing every answer, the parser and
  validator, the output files).

The bound is concurrency / latency (160 and 320 requests/s at 32 and 64). The goal is that the stage
reaches at least 85% of it. Per-request overhead = concurrency * wall / requests - latency; CPU per
request is this process's CPU time (all threads), the server's process is shown apart ("srv cpu").
The stage sends through the SDK's plain ``post`` (no request transform, no response models), which
is cheaper than ``create``, so stage - bare + aiohttp understates the stage's own work (store,
parser, output files: about 0.3 ms per request in a profile). The stage's wall includes its set-up
(reading the source, opening the store, the client and the files; composing the config is left
out); "inside the client loop" leaves that set-up out.

Every run opens ``concurrency`` fresh connections, and the goal is judged on the whole run: from the
stage's start (composing aside) to its last answer, connection set-up, first wave and tail included;
the bare paths are timed over the same requests, their connections opened inside the timing (their
client objects, ~20 ms each, are built just before it). "steady" is shown beside it: the rate at
which requests reach the server from round ``--skip-rounds`` + 1 to the last round (the server's
arrival times; the same measure for every path). The bare paths start their ``concurrency`` workers at once
(``asyncio.gather``), as a plain SDK script does; the stage's client starts them one loop iteration
apart (soulchat.llm.workarounds.start_workers).

    python benchmarks/rewrite_bench.py                      # concurrency 32 and 64, 15 rounds, median of 3
    python benchmarks/rewrite_bench.py --rounds 5 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from soulchat.config import DATA_DIR, compose

PATHS = ("bare openai", "bare + aiohttp", "rewrite stage")


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "soulchat.testing.llm_server", "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("URL "):
        raise RuntimeError(f"the test server did not start: {line!r}")
    return proc, line.split()[1]


def make_source(path: Path, n: int) -> None:
    """n distinct Q&A records (the demo ones, repeated with a distinguishing suffix)."""
    demo = [json.loads(x) for x in (DATA_DIR / "demo" / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = dict(demo[i % len(demo)], id=f"bench-{i}")
            rec["question"] = f"{rec['question']}（{i}）"
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stats(url: str, since: int = 0) -> dict:
    """The test server's ``/_stats`` (counts; arrival times of the chat requests from ``since`` on)."""
    with urllib.request.urlopen(f"{url.rsplit('/v1', 1)[0]}/_stats?since={since}") as resp:
        return json.load(resp)


def steady_rate(arrivals: list[float], concurrency: int, skip_rounds: int) -> float:
    """Requests per second reaching the server after the first ``skip_rounds`` rounds.

    Arrival ``k + concurrency`` is the next request of the worker whose request was arrival ``k``, so
    the time between arrivals ``k`` and ``k + m * concurrency`` is ``m`` of that worker's cycles,
    whether the rounds are bunched or spread out: the rate is taken between arrival
    ``skip_rounds * concurrency`` and the first arrival of the last round.
    """
    times = sorted(arrivals)
    start, end = skip_rounds * concurrency, len(times) - concurrency
    if end <= start or times[end] <= times[start]:
        return float("nan")
    return (end - start) / (times[end] - times[start])


async def bare(url: str, prompts: list[str], concurrency: int, aiohttp: bool = False) -> float:
    from openai import AsyncOpenAI, DefaultAioHttpClient

    api = AsyncOpenAI(base_url=url, api_key="bench", max_retries=0,
                      **({"http_client": DefaultAioHttpClient()} if aiohttp else {}))
    it = iter(prompts)

    async def worker() -> None:
        for p in it:
            await api.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": p}],
                                              temperature=1.0, top_p=1.0, max_tokens=2048)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await api.close()
    return wall


def stage(url: str, source: Path, n: int, concurrency: int, outputs: Path) -> tuple[float, float, dict]:
    from soulchat import pipeline
    from soulchat.testing.llm_server import TestServer

    server = TestServer(port=int(url.rsplit(":", 1)[1].split("/")[0]))
    overrides = ["stages=[rewrite]", "tracking.enabled=false", f"paths.outputs={outputs}",
                 f"rewrite.source={source}", f"rewrite.limit={n}", f"rewrite.concurrency={concurrency}",
                 *server.overrides(timeout_s=30)]
    cfg = compose(overrides)
    plan = pipeline.plan(cfg)
    t0, cpu = time.perf_counter(), time.process_time()
    result = pipeline.run_stage("rewrite", cfg, plan, outputs)
    return time.perf_counter() - t0, time.process_time() - cpu, result.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--rounds", type=int, default=15, help="requests = rounds * concurrency")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the median is shown")
    parser.add_argument("--skip-rounds", type=int, default=2, help="rounds left out of the steady rate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    from soulchat.registry import build
    from soulchat.rewrite.source import read_qa

    prompt = build("prompt", compose().prompt)
    proc, url = start_server(args.latency)
    rows: list[tuple] = []
    loop_s: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for c in args.concurrency:
                n = args.rounds * c
                source = Path(tmp) / f"qa-{c}.jsonl"
                make_source(source, n)
                prompts = [prompt.render(qa) for qa in read_qa(source)[0]]
                asyncio.run(bare(url, prompts[: c * 2], c))  # warm up connections and imports
                bound = c / args.latency
                # alternate the paths and keep each one's median: other load on the machine then
                # hits all alike
                runs: dict[str, list[tuple[float, float, float, float]]] = {p: [] for p in PATHS}
                loops = []
                for rep in range(args.repeat):
                    for path in PATHS:
                        logged = server_stats(url)["total"]
                        cpu, srv = time.process_time(), cpu_seconds(proc.pid)
                        if path == "rewrite stage":
                            wall, _, metrics = stage(url, source, n, c, Path(tmp) / f"out-{c}-{rep}")
                            assert metrics["network"] == n and metrics["dialogues"] == n, metrics
                            loops.append(metrics["seconds"])
                        else:
                            wall = asyncio.run(bare(url, prompts, c, aiohttp=path == "bare + aiohttp"))
                        cpu, srv = time.process_time() - cpu, cpu_seconds(proc.pid) - srv
                        steady = steady_rate(server_stats(url, logged)["arrivals"], c, args.skip_rounds)
                        runs[path].append((wall, cpu, srv, steady))
                for path, got in runs.items():
                    rows.append((path, c, n, bound, *(statistics.median(x) for x in zip(*got))))
                loop_s[c] = statistics.median(loops)
    finally:
        proc.kill()
    print(f"\nlatency {args.latency * 1000:.0f} ms, server in its own process; bound = concurrency / latency; "
          f"median of {args.repeat} runs; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'path':<15} {'conc':>4} {'requests':>8} {'bound':>6} {'wall s':>7} {'req/s':>7} {'% bound':>8} "
          f"{'overhead ms/req':>15} {'steady req/s':>12} {'% bound':>8} {'cpu ms/req':>10} {'srv cpu ms/req':>14}")
    for name, c, n, bound, wall, cpu, srv, steady in rows:
        rps = n / wall
        overhead = (c * wall / n - args.latency) * 1000
        print(f"{name:<15} {c:>4} {n:>8} {bound:>6.0f} {wall:>7.2f} {rps:>7.1f} {100 * rps / bound:>7.1f}% "
              f"{overhead:>15.1f} {steady:>12.1f} {100 * steady / bound:>7.1f}% {1000 * cpu / n:>10.2f} "
              f"{1000 * srv / n:>14.2f}")
    for c in args.concurrency:
        b, a, s = (r for r in rows if r[1] == c)
        n, bound = s[2], s[3]
        print(f"concurrency {c}: the stage reaches {100 * n / s[4] / bound:.1f}% of the bound over the whole "
              f"run (goal >= 85%; bare openai {100 * n / b[4] / bound:.1f}%), {100 * s[7] / bound:.1f}% in the "
              f"steady state; stage / bare = {b[4] / s[4]:.2f} (whole run), {s[7] / b[7]:.2f} (steady); "
              f"overhead per request {(c * s[4] / n - args.latency) * 1000:.1f} ms (stage set-up "
              f"{s[4] - loop_s[c]:.2f} s of it, {1000 * (s[4] - loop_s[c]) * c / n:.1f} ms/request); CPU per "
              f"request, stage - bare + aiohttp: {1000 * (s[5] - a[5]) / n:+.2f} ms")


if __name__ == "__main__":
    main()
