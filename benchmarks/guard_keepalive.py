"""guard=llm screens sent at the moment the server closes the kept-alive connection the last one used:
how many fail (the rules' verdict stands) and how many are sent again on a new connection.

    python benchmarks/guard_keepalive.py [--tries 300] [--keep 0.2] [--no-resend]

Against the local test server with a ``--keep`` s keep-alive; each screen goes out ``--keep`` s plus
a random -4..+4 ms after the last one returned (a chat user typing for about as long as the server's
keep-alive). ``--no-resend``: the guard's client as before the resend (a dropped try is a failure).
Single-threaded and mostly asleep: about ``tries * keep`` seconds. Figures: docs/guard.md, "An LLM screen".
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=300)
    parser.add_argument("--keep", type=float, default=0.2, help="the server's keep-alive, seconds")
    parser.add_argument("--no-resend", action="store_true", help="a dropped try is not sent again")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    os.environ.setdefault("OPENAI_API_KEY", "none")

    from soulchat.config import compose
    from soulchat.guard.llm_client import ScreenClient
    from soulchat.llm import LLMClient
    from soulchat.registry import build
    from soulchat.testing.llm_server import TestServer

    if args.no_resend:
        ScreenClient._send = LLMClient._send  # type: ignore[method-assign]
    text = "猫已经托付给朋友了，游戏账号也送人了，跟大家说声再见吧"  # the rules let it through
    rng = random.Random(0)
    with TestServer(responder=lambda body: '{"category": "suicide", "reason": "x"}', keepalive_s=args.keep) as server:
        g = build("guard", compose(["guard=llm", f"guard.base_url={server.url}"]).guard)
        try:
            g.screen_user(text)
            for _ in range(args.tries):
                time.sleep(args.keep + rng.uniform(-0.004, 0.004))
                g.screen_user(text)
        finally:
            g.close()
    m = g.stats.as_metrics()
    print(f"{args.tries} screens at a {args.keep} s keep-alive{' (no resend)' if args.no_resend else ''}: "
          f"failed {m['failed']} {dict(g.stats.failed)}, sent again {m['retried']}, "
          f"answered {m['answered'] - 1}; the server answered {server.count() - 1}")


if __name__ == "__main__":
    main()
