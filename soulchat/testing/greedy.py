"""Checks of greedy decoding that hold on any CPU: a batch's float sums may differ from one row's in the
last bits and so flip an exact tie between two tokens, never more; comparing token ids exactly would
fail there although nothing is wrong."""

from __future__ import annotations

from typing import Any, Sequence

import torch

#: how close two logits are to count as a tie (the float noise between batch shapes is ~1e-6)
TIE = 1e-3


def _logits(model: Any, ids: Sequence[int], said: Sequence[int]) -> torch.Tensor:
    """The model's logits for each of ``said``, reading ``ids`` and the tokens before it alone."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([list(ids) + list(said)]))
    return out.logits[0, len(ids) - 1:len(ids) + len(said) - 1].float()


def top_choices(model: Any, ids: Sequence[int], said: Sequence[int], tol: float = TIE) -> bool:
    """Whether every token of ``said`` is the top choice of the model reading the row alone (up to a tie)."""
    said = [int(t) for t in said]
    if not said:
        return True
    logits = _logits(model, ids, said)
    chosen = logits.gather(-1, torch.tensor(said)[:, None])[:, 0]
    return bool((chosen >= logits.max(-1).values - tol).all())


def same_but_ties(model: Any, ids: Sequence[int], a: Sequence[int], b: Sequence[int], tol: float = TIE) -> bool:
    """Whether two greedy continuations of ``ids`` are equal, or part where the model's two choices tie."""
    a, b = [int(t) for t in a], [int(t) for t in b]
    n = min(len(a), len(b))
    split = next((i for i in range(n) if a[i] != b[i]), None)
    if split is None:
        return True
    logits = _logits(model, ids, a[:split + 1])[-1]
    return bool(abs(logits[a[split]] - logits[b[split]]) <= tol)
