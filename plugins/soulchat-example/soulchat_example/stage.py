"""An example stage: how long the rewritten dialogues are (messages per dialogue), after ``rewrite``.

It shows everything a plugin needs to add a stage: a config section (``dialogue_lengths.*`` on the
command line, typed by :class:`DialogueLengthsConfig`), a ``run`` that reads its input's folder and
writes into its own, and the ``STAGE`` declaration registered in ``register``. Run it with
``python -m soulchat stages=[dialogue_lengths]`` (the rewrite stage is computed or reused first).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from soulchat.stage import Stage, StageContext
from soulchat.stage_config import StageConfig


@dataclass
class DialogueLengthsConfig(StageConfig):
    """Messages per rewritten dialogue."""

    long_from: int = 16  # a dialogue with at least this many messages counts as long


def run(ctx: StageContext) -> dict[str, float]:
    lengths = []
    with open(ctx.inputs["rewrite"] / "dialogues.jsonl", encoding="utf-8") as fh:
        for line in fh:
            lengths.append(len(json.loads(line)["messages"]))
    (ctx.out / "lengths.json").write_text(json.dumps(lengths), encoding="utf-8")
    long_from = int(ctx.cfg.dialogue_lengths.long_from)
    return {"dialogues": len(lengths), "mean_messages": statistics.fmean(lengths) if lengths else 0.0,
            "long_share": sum(n >= long_from for n in lengths) / max(len(lengths), 1)}


STAGE = Stage("dialogue_lengths", run, inputs=lambda c: ("rewrite",), config_keys=("dialogue_lengths",))
