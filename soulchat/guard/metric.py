"""The ``guard`` metric set: the share (%) of model replies a guard flags (``guard-replies``) and,
when the caller passes the test inputs, the share of inputs it flags (``guard-inputs``).

``update(predictions, references, inputs=None)``: the extra ``inputs`` (the user's last messages)
is optional so the evaluate stage's plain ``update(predictions, references)`` works unchanged.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from omegaconf import OmegaConf
from torchmetrics import Metric

KEYS = ("guard-replies", "guard-inputs")


class GuardRate(Metric):
    """Counts of flagged replies and inputs; the counts are summed across processes."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, guard: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard
        for name in ("replies_flagged", "replies", "inputs_flagged", "inputs"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[str], references: Sequence[str],
               inputs: Optional[Sequence[str]] = None) -> None:
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        self.replies_flagged += sum(self.guard.screen_reply(p).flagged for p in predictions)
        self.replies += len(predictions)
        if inputs is not None:
            if len(inputs) != len(predictions):
                raise ValueError(f"{len(inputs)} inputs but {len(predictions)} predictions")
            self.inputs_flagged += sum(self.guard.screen_user(t).flagged for t in inputs)
            self.inputs += len(inputs)

    def compute(self) -> dict[str, float]:
        out = {"guard-replies": 100.0 * float(self.replies_flagged) / float(self.replies) if self.replies else 0.0}
        if self.inputs:
            out["guard-inputs"] = 100.0 * float(self.inputs_flagged) / float(self.inputs)
        return out


def build(cfg: Any) -> GuardRate:
    """The ``metric_set/guard`` factory: builds the named guard from its schema defaults."""
    from soulchat.registry import build as build_component, registry

    node = OmegaConf.structured(registry().get("guard", cfg.guard).schema(name=cfg.guard))
    return GuardRate(build_component("guard", node))
