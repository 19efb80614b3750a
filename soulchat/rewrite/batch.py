"""``soulchat batch {prepare,submit,ingest} [--file F] [overrides...]``: the rewrite via OpenAI's Batch API.

The overrides are the pipeline's (``prompt=smile endpoint=openai rewrite.limit=1000 ...``), so the
requests are exactly those the rewrite stage would send, with the same store keys:

    soulchat batch prepare endpoint=openai                 # write <outputs>/batches/rewrite-<hash>.jsonl
    soulchat batch submit  endpoint=openai                 # upload, poll, download, ingest into the store
    soulchat batch ingest  endpoint=openai --output F      # ingest an output file fetched elsewhere
    soulchat endpoint=openai                               # the stage: every answer from the store

Only requests whose answer is not yet stored are written. Everything the command logs or prints is
redacted (:mod:`soulchat.tracking.redact`); a key on the command line is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from pathlib import Path
from typing import Callable

log = logging.getLogger("soulchat.batch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soulchat batch", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("prepare", "submit", "ingest"))
    parser.add_argument("--file", type=Path, default=None, help="the batch input file (default under paths.outputs)")
    parser.add_argument("--output", type=Path, default=None, help="the batch output file (default: <file>.output.jsonl)")
    parser.add_argument("--poll", type=float, default=30.0, help="seconds between polls")
    parser.add_argument("overrides", nargs="*", help="config overrides, as for the pipeline")
    args = parser.parse_intermixed_args(argv)

    from soulchat.errors import SoulchatError
    from soulchat.llm.client import FatalEndpointError, StoreMiss
    from soulchat.tracking.redact import install_log_redaction, redact_text
    from soulchat.tracking.secrets import refuse_secret_overrides

    refuse_secret_overrides(args.overrides)
    install_log_redaction()  # every line this command logs or prints is redacted
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return _run(args, lambda text: print(redact_text(text)))
    except (SoulchatError, FatalEndpointError, StoreMiss) as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except Exception:  # a bug: its traceback, redacted
        print(redact_text(traceback.format_exc()), file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    from soulchat.config import compose
    from soulchat.llm import batch
    from soulchat.registry import build
    from soulchat.rewrite.stage import load
    from soulchat.tracking.secrets import register_env_fields

    cfg = compose(args.overrides)
    register_env_fields(cfg)
    prompt, qas, _ = load(cfg)
    client = build("endpoint", cfg.endpoint, progress=False)
    file = args.file or Path(cfg.paths.outputs) / "batches" / f"rewrite-{prompt.name}-{prompt.template_hash}.jsonl"
    output = args.output or file.with_suffix(".output.jsonl")

    if args.action in ("prepare", "submit"):
        n = batch.write_requests(client, (prompt.request(qa) for qa in qas), file)
        say(f"{n} requests not yet stored -> {file}")
        if args.action == "prepare" or n == 0:
            return 0
    if args.action == "submit":
        final = asyncio.run(batch.submit(client, file, output, args.poll))
        say(f"batch {final['id']} {final['status']}: output -> {output}")
    counts = batch.ingest_output(client, output)
    say(f"ingested {output}: {counts['stored']} answers stored in {client.store.describe()}, "
        f"{counts['failed']} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
