"""``soulchat serve`` under load: 16 concurrent streaming clients against the same requests one at a
time (tokens/s, time to first token), and what the chat adds per turn over raw generation.

    python benchmarks/serve_bench.py                      # tiny model (random init), CPU, 1 thread
    python benchmarks/serve_bench.py --clients 16 --max-tokens 48 --rounds 2 --model outputs/cache/train/<key>/hf

Goals: concurrent tokens/s >= 5x one-at-a-time; the chat (guard on message and reply, encoding,
streamer, engine thread) <= 5 ms per turn over ``HFGenerator.generate_ids`` at equal token counts.
The server is a real ``soulchat serve`` subprocess (one torch thread); every request asks for
``--max-tokens`` and the random-init model almost never samples eos, so both modes do the same work
(only tokens the server reports in ``usage`` count). Rounds alternate the two modes' order.
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

REPO = Path(__file__).resolve().parents[1]


def export_tiny(folder: Path) -> Path:
    """A servable export of the tiny model at random init (a forward pass costs the same trained or not)."""
    from hydra import compose, initialize_config_dir

    from soulchat.config import CONF_DIR, setup
    from soulchat.train.export import save_hf
    from soulchat.train.fit import build_model

    setup()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=[f"paths.outputs={folder}", "tracking.enabled=false"])
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


async def load_test(url: str, reqs: list[list[dict]], max_tokens: int, rounds: int) -> dict:
    import aiohttp

    out = {"one at a time": [0.0, 0, []], "concurrent": [0.0, 0, []]}
    async with aiohttp.ClientSession() as session:
        await request(session, url, reqs[0], 4)  # warm-up
        for r in range(rounds):
            for mode in (("one at a time", "concurrent") if r % 2 == 0 else ("concurrent", "one at a time")):
                t = time.perf_counter()
                if mode == "concurrent":
                    res = await asyncio.gather(*(request(session, url, h, max_tokens) for h in reqs))
                else:
                    res = [await request(session, url, h, max_tokens) for h in reqs]
                out[mode][0] += time.perf_counter() - t
                out[mode][1] += sum(n for _, _, n in res)
                out[mode][2] += [f for f, _, _ in res]
    return out


def chat_overhead(model: Path, reqs: list[list[dict]], max_tokens: int, turns: int) -> tuple[float, float, int]:
    """Median ms per turn of ``Conversation.say`` and of raw ``generate_ids`` on the same input, over turns
    where both produced the same number of tokens; and how many such turns."""
    import torch
    from hydra import compose, initialize_config_dir

    from soulchat.chat.engine import Engine, Sampling
    from soulchat.chat.session import Conversation
    from soulchat.config import CONF_DIR
    from soulchat.registry import build

    torch.set_num_threads(1)
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=["tracking.enabled=false"])
    engine = Engine(model, 256, None, 1, 0, "cpu", "float32")
    sampling = Sampling(max_tokens, float(cfg.generate.temperature), float(cfg.generate.top_p), int(cfg.generate.top_k))
    conv = Conversation(engine, build("guard", cfg.guard), sampling)
    chat_ms, raw_ms = [], []
    try:
        for i in range(turns):
            text = reqs[i % len(reqs)][-1]["content"]
            conv.reset()
            full, booked = engine.finished["length"], sum(engine.finished.values())
            t = time.perf_counter()
            pieces = list(conv.say(text))
            chat_t = time.perf_counter() - t
            if not pieces or pieces[0][0] != "token":
                continue  # the guard answered (or nothing was said): no generation to compare
            while sum(engine.finished.values()) == booked:  # the engine thread books the job right after
                time.sleep(0.0005)
            ids = engine.encode([{"role": "user", "content": text}])
            t = time.perf_counter()
            raw = engine.gen.generate_ids([ids], i, max_new_tokens=max_tokens, temperature=sampling.temperature,
                                          top_p=sampling.top_p, top_k=sampling.top_k)
            raw_t = time.perf_counter() - t
            # equal work: both said max_tokens tokens (neither sampled eos early)
            if engine.finished["length"] > full and len(raw[0]) == max_tokens:
                chat_ms.append(chat_t * 1e3)
                raw_ms.append(raw_t * 1e3)
    finally:
        engine.close()
    return statistics.median(chat_ms), statistics.median(raw_ms), len(chat_ms)


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
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    model = args.model or export_tiny(Path(tempfile.mkdtemp(prefix="servebench-")))
    reqs = histories(args.clients)
    proc, url = start_server(model, args.clients)
    try:
        res = asyncio.run(load_test(url, reqs, args.max_tokens, args.rounds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    table = Table(title=f"soulchat serve, {args.clients} streamed requests x {args.rounds} rounds, "
                        f"{args.max_tokens} tokens each, {model.name}, CPU, 1 thread")
    for col in ("mode", "seconds", "tokens", "tokens/s", "vs one at a time", "TTFT p50 ms", "TTFT p95 ms"):
        table.add_column(col, justify="right")
    base = res["one at a time"][1] / res["one at a time"][0]
    for mode, (sec, tok, first) in res.items():
        table.add_row(mode, f"{sec:.2f}", str(tok), f"{tok / sec:,.0f}", f"{tok / sec / base:.1f}x",
                      f"{pct(first, 0.5):.0f}", f"{pct(first, 0.95):.0f}")
    Console().print(table)
    ratio = res["concurrent"][1] / res["concurrent"][0] / base
    print(f"concurrent vs one at a time: {ratio:.1f}x tokens/s (goal >= 5x)")
    chat, raw, n = chat_overhead(model, reqs, args.max_tokens, args.turns)
    print(f"chat turn {chat:.1f} ms vs raw generation {raw:.1f} ms at {args.max_tokens} tokens (median of {n} "
          f"turns): {chat - raw:+.1f} ms per turn (goal <= 5 ms)")


if __name__ == "__main__":
    main()
