"""The ``guard`` metric set: the share (%) of model replies a guard flags (``guard-replies``) and,
when the caller passes the test inputs, the share of inputs it flags (``guard-inputs``: the crisis
answer instead of the model) and the share it only raises a concern about (``guard-concerns``: the
model answers, with a hotline note after), each with its n (``guard-replies-n``, ``guard-inputs-n``).

``update(predictions, references, inputs=None, histories=None)``: ``inputs`` are the user's last
messages, ``histories`` the messages before each reply (the evaluate stage passes each prediction's);
each reply is screened after its conversation (docs/guard.md), or after its input when only that is
given, or alone.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from omegaconf import OmegaConf
from torchmetrics import Metric

from soulchat.evaluate.contracts import Columns

KEYS = ("guard-replies", "guard-inputs", "guard-concerns")


class GuardRate(Metric):
    """Counts of flagged replies and inputs; the counts are summed across processes.

    Args:
        cfg: its ``metric_set`` config; ``cfg.guard`` names the guard built from its schema defaults.
        guard: a built guard to use instead.
    """

    full_state_update = False
    higher_is_better = False
    columns = Columns({"guard-replies": "guard (share of replies flagged)",
                       "guard-inputs": "guard (share of inputs flagged)",
                       "guard-concerns": "guard (share of inputs with a concern note)"},
                      n={"guard-replies": "guard-replies-n", "guard-inputs": "guard-inputs-n",
                         "guard-concerns": "guard-inputs-n"})

    def __init__(self, cfg: Any = None, guard: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard if guard is not None else _build_guard(cfg.guard if cfg is not None else "crisis")
        for name in ("replies_flagged", "replies", "inputs_flagged", "inputs_concern", "inputs"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[str], references: Sequence[str],
               inputs: Optional[Sequence[str]] = None, histories: Optional[Sequence[Sequence[dict]]] = None) -> None:
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        for name, given in (("inputs", inputs), ("histories", histories)):
            if given is not None and len(given) != len(predictions):
                raise ValueError(f"{len(given)} {name} but {len(predictions)} predictions")
        # a reply is read after the conversation it answers (a reply can be unsafe only after what the user said)
        if histories is None:
            histories = [[{"role": "user", "content": t}] for t in inputs] if inputs is not None else [()] * len(predictions)
        self.replies_flagged += sum(self.guard.screen_reply(p, history=h).flagged for p, h in zip(predictions, histories))
        self.replies += len(predictions)
        if inputs is not None:
            verdicts = [self.guard.screen_user(t) for t in inputs]
            self.inputs_flagged += sum(v.flagged for v in verdicts)
            self.inputs_concern += sum(bool(getattr(v, "concern", False)) for v in verdicts)
            self.inputs += len(inputs)

    def compute(self) -> dict[str, float]:
        out = {"guard-replies": 100.0 * float(self.replies_flagged) / float(self.replies) if self.replies else 0.0,
               "guard-replies-n": float(self.replies)}
        if self.inputs:
            out["guard-inputs"] = 100.0 * float(self.inputs_flagged) / float(self.inputs)
            out["guard-concerns"] = 100.0 * float(self.inputs_concern) / float(self.inputs)
            out["guard-inputs-n"] = float(self.inputs)
        return out


def _build_guard(name: str) -> Any:
    """The guard ``name`` with its schema defaults."""
    from soulchat.registry import build as build_component
    from soulchat.registry import registry

    node = OmegaConf.structured(registry().get("guard", name).schema(name=name))
    return build_component("guard", node)
