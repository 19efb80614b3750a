"""``soulchat serve`` under load: 16 concurrent streaming clients against the same requests one at a
time (tokens/s, time to first token), and what the chat adds per turn over raw generation.

    python benchmarks/serve_bench.py                      # tiny model (random init), CPU, 1 thread
    python benchmarks/serve_bench.py --clients 16 --max-tokens 48 --rounds 2 --model outputs/cache/train/<key>/hf

Goals: concurrent tokens/s >= 5x one-at-a-time; the chat (guard on message and reply, encoding,
streamer, engine thread) <= 5 ms per turn over ``HFGenerator.generate_ids`` at equal token counts.
The server is a real ``soulchat serve`` subprocess (one torch thread); every request asks for
``--max-tokens`` and the random-init model almost never samples eos, so both modes do the same work
(only tokens the server reports in ``usage`` count). The requests are the first histories the guard
lets through, so all ``--clients`` reach the model (a flagged one is answered without it and would
only shrink the batch). A first round of each mode warms the server up (the allocator, the shapes,
the connections) and is not counted; the counted rounds alternate the two modes' order. Printed beside the ratio: the admissions
to the server's running batch (how many groups the requests joined it in), and the engine alone on the same jobs (no HTTP), the bound the server can reach.
Chat vs raw is timed in wall and in thread CPU time (both run in the calling thread; CPU time is
what a loaded machine blurs least).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_bench import histories

from soulchat.generate.prefill import length_groups

REPO = Path(__file__).resolve().parents[1]


def export_tiny(folder: Path, hidden_size: int = 128, layers: int = 2) -> Path:
    """A servable export of the tiny model at random init (a forward pass costs the same trained or not)."""
    from soulchat.config import compose
    from soulchat.train.export import save_hf
    from soulchat.train.fit import build_model

    cfg = compose([f"paths.outputs={folder}", "tracking.enabled=false", f"model.hidden_size={hidden_size}",
                   f"model.num_layers={layers}", f"model.intermediate_size={hidden_size * 3}"])
    _, tokenizer, model = build_model(cfg)
    save_hf(model, tokenizer, folder / "hf", cfg)
    return folder / "hf"


def start_server(model: Path, batch: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "soulchat", "serve", str(model), "serve.port=0",
                             f"serve.max_batch_size={batch}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("soulchat serve: http://"):
            return proc, line.split()[2].rstrip("/")
    raise SystemExit("soulchat serve did not start")


async def request(session, url: str, history: list[dict], max_tokens: int) -> tuple[float, float, int]:
    """``(seconds to the first content, seconds in all, completion tokens)`` of one streamed request."""
    t0 = time.perf_counter()
    first, tokens = None, 0
    body = {"messages": history, "stream": True, "max_tokens": max_tokens}
    async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if first is None and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - t0
            tokens = chunk.get("usage", {}).get("completion_tokens", tokens)
    return first or float("nan"), time.perf_counter() - t0, tokens


def passed_by_guard(n: int) -> list[list[dict]]:
    """The first ``n`` histories whose last message the configured guard does not flag."""
    from soulchat.config import compose
    from soulchat.registry import build

    guard = build("guard", compose(["tracking.enabled=false"]).guard)
    ok = [h for h in histories(4 * n) if not guard.screen_user(h[-1]["content"], history=tuple(h[:-1])).flagged]
    return ok[:n]


async def health(session, url: str) -> dict:
    async with session.get(f"{url}/health") as resp:
        return await resp.json()


async def load_test(url: str, reqs: list[list[dict]], max_tokens: int, rounds: int) -> dict:
    import aiohttp

    # per mode: seconds, tokens, TTFTs, client CPU s, batch sizes the server formed (from /health)
    out = {m: [0.0, 0, [], 0.0, []] for m in ("one at a time", "concurrent")}
    async with aiohttp.ClientSession() as session:
        for r in range(-1, rounds):  # round -1 warms both modes up (allocator, shapes, connections): not counted
            for mode in (("one at a time", "concurrent") if r % 2 == 0 else ("concurrent", "one at a time")):
                before = await health(session, url)
                t, cpu = time.perf_counter(), time.process_time()
                if mode == "concurrent":
                    res = await asyncio.gather(*(request(session, url, h, max_tokens) for h in reqs))
                else:
                    res = [await request(session, url, h, max_tokens) for h in reqs]
                if r < 0:
                    continue
                out[mode][0] += time.perf_counter() - t
                out[mode][3] += time.process_time() - cpu
                out[mode][1] += sum(n for _, _, n in res)
                out[mode][2] += [f for f, _, _ in res]
                after = await health(session, url)
                out[mode][4].append((after["batches"] - before["batches"], after["requests"] - before["requests"]))
    return out


def engine_batching(model: Path, reqs: list[list[dict]], max_tokens: int, rounds: int) -> tuple[float, list[int]]:
    """Tokens/s ratio of the same jobs submitted together vs one at a time to the engine in this process
    (no HTTP, no event loop): what batching gives before the server's own costs; and the input lengths."""
    import torch

    from soulchat.chat.engine import Engine, Sampling

    class Count:  # a streamer that only counts (put(token_id), end())
        def __init__(self) -> None:
            self.n = 0

        def put(self, value) -> None:
            self.n += 1

        def end(self) -> None:
            pass

    torch.set_num_threads(1)
    engine = Engine(model, 256, None, len(reqs), 0, "cpu", "float32")
    ids = [engine.encode(h) for h in reqs]
    rates = {True: [0.0, 0], False: [0.0, 0]}
    try:
        for r in range(-1, rounds):  # round -1 warms up, not counted
            for together in ((False, True) if r % 2 == 0 else (True, False)):
                t = time.perf_counter()
                if together:
                    jobs = [engine.submit(x, Sampling(max_tokens, 0.95, 0.75, 50), Count()) for x in ids]
                    for job in jobs:
                        job.done.wait()
                else:
                    jobs = []
                    for x in ids:
                        jobs.append(engine.submit(x, Sampling(max_tokens, 0.95, 0.75, 50), Count()))
                        jobs[-1].done.wait()
                if r < 0:
                    continue
                rates[together][0] += time.perf_counter() - t
                rates[together][1] += sum(j.tokens for j in jobs)
    finally:
        engine.close()
    return (rates[True][1] / rates[True][0]) / (rates[False][1] / rates[False][0]), [len(x) for x in ids]


def chat_overhead(model: Path, reqs: list[list[dict]], max_tokens: int, turns: int) -> dict:
    """Per turn of ``Conversation.say`` (what ``soulchat chat`` runs per message) and of raw
    ``generate_ids`` on the same input, over turns where both produced ``max_tokens`` tokens: the
    medians of each (wall ms) and of the paired differences (wall and thread CPU ms), and the count."""
    import torch

    from soulchat.chat.engine import Engine, Sampling
    from soulchat.chat.session import Conversation
    from soulchat.config import compose
    from soulchat.registry import build

    torch.set_num_threads(1)
    cfg = compose(["tracking.enabled=false"])
    engine = Engine(model, 256, None, 1, 0, "cpu", "float32")
    sampling = Sampling(max_tokens, float(cfg.generate.temperature), float(cfg.generate.top_p), int(cfg.generate.top_k))
    conv = Conversation(engine, build("guard", cfg.guard), sampling)
    chat_ms, raw_ms = [], []  # (wall, cpu) per kept turn
    try:
        for i in range(turns):
            text = reqs[i % len(reqs)][-1]["content"]
            conv.reset()
            full, kinds = engine.finished["length"], []
            ids = engine.encode([{"role": "user", "content": text}])

            def chat() -> tuple[float, float]:
                t, c = time.perf_counter(), time.thread_time()
                conv.say(text, lambda kind, piece: kinds.append(kind))
                return time.perf_counter() - t, time.thread_time() - c

            def generate() -> tuple[tuple[float, float], list]:
                t, c = time.perf_counter(), time.thread_time()
                out = engine.gen.generate_ids([ids], i, max_new_tokens=max_tokens, temperature=sampling.temperature,
                                              top_p=sampling.top_p, top_k=sampling.top_k)
                return (time.perf_counter() - t, time.thread_time() - c), out

            if i % 2:  # alternate which goes first, so a drift in the machine's load hits both alike
                chat_t, (raw_t, raw) = chat(), generate()
            else:
                (raw_t, raw), chat_t = generate(), chat()
            if "crisis" in kinds:
                continue  # the guard answered: no generation to compare
            # equal work: both said max_tokens tokens (neither sampled eos early)
            if engine.finished["length"] > full and len(raw[0]) == max_tokens:
                chat_ms.append((chat_t[0] * 1e3, chat_t[1] * 1e3))
                raw_ms.append((raw_t[0] * 1e3, raw_t[1] * 1e3))
    finally:
        engine.close()
    med = statistics.median
    return {"chat": med(c[0] for c in chat_ms), "raw": med(r[0] for r in raw_ms),
            "diff": med(c[0] - r[0] for c, r in zip(chat_ms, raw_ms)),
            "diff_cpu": med(c[1] - r[1] for c, r in zip(chat_ms, raw_ms)), "turns": len(chat_ms)}


def pct(values: list[float], q: float) -> float:
    values = sorted(v for v in values if v == v)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)  # the tiny scale's generate.max_new_tokens
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--model", type=Path, default=None, help="a servable folder (default: the tiny model)")
    ap.add_argument("--hidden-size", type=int, default=128)  # of the tiny model
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    model = args.model or export_tiny(Path(tempfile.mkdtemp(prefix="servebench-")), args.hidden_size, args.layers)
    reqs = passed_by_guard(args.clients)
    proc, url = start_server(model, args.clients)
    try:
        res = asyncio.run(load_test(url, reqs, args.max_tokens, args.rounds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    table = Table(title=f"soulchat serve, {len(reqs)} streamed requests x {args.rounds} rounds, "
                        f"{args.max_tokens} tokens each, hidden {args.hidden_size} x {args.layers} layers, CPU, 1 thread")
    for col in ("mode", "seconds", "tokens", "tokens/s", "vs one at a time", "TTFT p50 ms", "TTFT p95 ms"):
        table.add_column(col, justify="right")
    base = res["one at a time"][1] / res["one at a time"][0]
    for mode, (sec, tok, first, _, _) in res.items():
        table.add_row(mode, f"{sec:.2f}", str(tok), f"{tok / sec:,.0f}", f"{tok / sec / base:.1f}x",
                      f"{pct(first, 0.5):.0f}", f"{pct(first, 0.95):.0f}")
    Console().print(table)
    ratio = res["concurrent"][1] / res["concurrent"][0] / base
    formed = ", ".join(f"{b} for {n}" for b, n in res["concurrent"][4])
    print(f"concurrent vs one at a time: {ratio:.1f}x tokens/s (goal >= 5x); admissions to the server's running "
          f"batch per concurrent round: {formed} requests; the load generator used "
          f"{res['concurrent'][3]:.2f} s CPU for {res['concurrent'][0]:.2f} s of concurrent requests")
    alone, lengths = engine_batching(model, reqs, args.max_tokens, args.rounds)
    groups = length_groups(lengths)
    print(f"the engine alone (same jobs, no HTTP; the bound for the ratio above): {alone:.1f}x; its inputs: "
          f"{sum(lengths)} tokens ({min(lengths)}-{max(lengths)} each), one padded first pass would compute "
          f"{len(lengths) * max(lengths)} positions, the grouped one {sum(len(g) * max(lengths[r] for r in g) for g in groups)}"
          f" in {len(groups)} calls")
    c = chat_overhead(model, reqs, args.max_tokens, args.turns)
    print(f"chat turn {c['chat']:.1f} ms vs raw generation {c['raw']:.1f} ms at {args.max_tokens} tokens (medians of "
          f"{c['turns']} turns); median paired difference {c['diff']:+.1f} ms wall, {c['diff_cpu']:+.1f} ms CPU "
          "per turn (goal <= 5 ms)")


if __name__ == "__main__":
    main()
