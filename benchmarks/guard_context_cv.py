"""Replies in their conversation, across sets: the learned context screen trained on one conversation set
(and the replies of every labelled set), the other scored, both ways, with n, next to the reply alone, the
phrase context rules (soulchat/guard/context.py, written on replies_context), the guard as shipped and the union.

    python benchmarks/guard_context_cv.py
"""

from __future__ import annotations

import logging

from soulchat.guard.learned import CONTEXT_SETS
from soulchat.guard.measure import cross_context


def main() -> None:
    logging.disable(logging.WARNING)  # the guard logs each flag
    print(f"{'held out':18} {'screen':16} {'unsafe caught':>18} {'safe flagged':>16}")
    for held_out in CONTEXT_SETS:
        train = [p for p in CONTEXT_SETS if p != held_out]
        for name, r in cross_context(held_out, train).items():
            print(f"{held_out.stem:18} {name:16} {r.unsafe.rate():6.3f} ({r.unsafe.flagged:3d}/{r.unsafe.n:3d}) "
                  f"{r.safe.rate():6.3f} ({r.safe.flagged:2d}/{r.safe.n:3d})")


if __name__ == "__main__":
    main()
