"""The ``length_ratio`` metric set: a torchmetrics Metric, so it accumulates and syncs like soulchat's."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from soulchat.evaluate.contracts import Columns


class LengthRatio(Metric):
    """Mean len(prediction)/len(reference) in characters, and the share of short replies."""

    full_state_update = False
    # the report's headings for its keys (soulchat.evaluate.contracts.MetricSet)
    columns = Columns({"length_ratio": "Len. ratio", "short_rate": "Short%"})

    def __init__(self, short_below: float = 0.5):
        super().__init__()
        self.short_below = short_below
        self.add_state("ratio_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("short", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: list[str], references: list[str]) -> None:
        for pred, ref in zip(predictions, references, strict=True):
            ratio = len(pred) / max(len(ref), 1)
            self.ratio_sum += ratio
            self.short += int(ratio < self.short_below)
            self.n += 1

    def compute(self) -> dict[str, float]:
        n = max(int(self.n), 1)
        return {"length_ratio": float(self.ratio_sum) / n, "short_rate": 100.0 * int(self.short) / n}


def build(cfg) -> LengthRatio:
    return LengthRatio(short_below=cfg.short_below)
