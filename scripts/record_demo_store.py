"""Write the bundled response store: the demo rewrites as the answers a live run would receive.

The corpus area ships the demo Q&A (``soulchat/data/demo/qa.jsonl``) and, for each, a SoulChat-style
and a SMILE-style rewrite (``dialogues.jsonl``, ``dialogues_smile.jsonl``, same ids). This script
turns each rewrite into the text an LLM answers to the rendered prompt (``用户：…`` /
``心理咨询师：…`` lines, or 求助者/支持者 for SMILE) and stores it under exactly the key a live run
with the default endpoint settings computes (same code: ``LLMClient.key_for``), attempt 1. So the
default ``python -m soulchat`` (``endpoint=recorded``) goes through the real client and parser with
every answer from the store.

    python scripts/record_demo_store.py            # rewrites soulchat/data/demo/rewrite_store.sqlite

Raises SystemExit if a recorded text would not pass its prompt's validation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soulchat.config import DATA_DIR, compose
from soulchat.io import read_jsonl
from soulchat.llm.client import InvalidOutput, LLMClient
from soulchat.llm.store import ResponseStore
from soulchat.registry import build
from soulchat.rewrite.source import read_qa

DEMO = DATA_DIR / "demo"
#: prompt option -> the demo file holding its rewrites
RECORDINGS = {"soulchat": DEMO / "dialogues.jsonl", "smile": DEMO / "dialogues_smile.jsonl"}


def answer_text(messages: list[dict], user: str, counsellor: str) -> str:
    return "\n".join(f"{user if m['role'] == 'user' else counsellor}：{m['content']}" for m in messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEMO / "rewrite_store.sqlite")
    args = parser.parse_args(argv)
    tmp = args.out.with_suffix(".tmp.sqlite")
    tmp.unlink(missing_ok=True)
    store = ResponseStore(tmp)
    for name, path in RECORDINGS.items():
        cfg = compose([f"prompt={name}", "endpoint=recorded"])
        prompt = build("prompt", cfg.prompt)
        client = LLMClient(cfg.endpoint, progress=False, store=store)
        rewrites = {rec["id"]: rec["messages"] for _, rec in read_jsonl(path)}
        qas, _ = read_qa(cfg.rewrite.source)
        missing = [qa.id for qa in qas if qa.id not in rewrites]
        if missing:
            sys.exit(f"{path}: no rewrite for {len(missing)} Q&A ids, e.g. {missing[:3]}")
        cfg_p = cfg.prompt
        for qa in qas:
            req = prompt.request(qa)
            text = answer_text(rewrites[qa.id], cfg_p.user_speaker, cfg_p.counsellor_speaker)
            try:
                prompt.validate(text, req)
            except InvalidOutput as exc:
                sys.exit(f"{path}: the rewrite of {qa.id} fails prompt {name}: {exc}")
            store.put(client.recording(req, text, path.name))
        print(f"{name}: {len(qas)} answers recorded from {path.name}")
    store.publish(args.out)  # one self-contained file in the repository
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
