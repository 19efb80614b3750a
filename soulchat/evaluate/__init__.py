"""soulchat.evaluate: metric sets, the CEHS judge, human rating sheets and the Table-1 report.

For notebooks and other tools::

    from soulchat.evaluate import score
    score(["我能理解你的感受。"], ["我理解你现在的感受。"], metric_set="paper")
    # {'bleu-1': ..., 'bleu-2': ..., ..., 'rouge-l': ...}
"""

from __future__ import annotations

from typing import Sequence


def build_metric(metric_set: str = "paper"):
    """The ``metric_set`` component ``metric_set`` with its default config (a torchmetrics Metric).

    Raises:
        KeyError: unknown metric set (the message lists the valid ones).
    """
    from soulchat.registry import registry

    comp = registry().get("metric_set", metric_set)
    return comp.load_factory()(comp.schema(name=metric_set))


def score(predictions: Sequence[str], references: Sequence[str], metric_set: str = "paper",
          batch_size: int = 1024) -> dict[str, float]:
    """Score predictions against references with a metric set; returns ``{metric: value}``.

    Raises:
        KeyError: unknown metric set.
        ValueError: predictions and references differ in length.
    """
    metric = build_metric(metric_set)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    for i in range(0, len(predictions), batch_size):
        metric.update(list(predictions[i:i + batch_size]), list(references[i:i + batch_size]))
    return metric.compute()
