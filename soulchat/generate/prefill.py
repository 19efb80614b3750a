"""The first forward pass over a batch of left-padded rows, run in groups of similar length.

One padded forward over rows of very different lengths computes mostly padding (the serve
benchmark's 16 histories of 23-256 tokens: 4,096 positions for 1,384 real ones). Here the rows,
sorted by length, are cut into the groups that minimise the positions computed plus a fixed cost per
forward call (:data:`CALL_COST` positions: its Python overhead on the CPU); each group runs at its
own width, and the groups' KV caches are left-padded to the batch's width and joined, so decoding
goes on exactly as after one padded forward (padded positions are masked out either way).
Only for Hugging Face's :class:`DynamicCache` of plain layers; other caches get the one padded call.
The caches made here have room to grow (:mod:`soulchat.generate.roomy`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from soulchat.generate.roomy import RoomyLayer, on, placed, roomy

#: the CPU time of one forward call of the tiny model, in positions of a prefill (measured: 2-3 ms of
#: fixed cost, ~0.02-0.03 ms per position); on an accelerator padding is nearly free, so no split
CALL_COST = 128


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input ids, attention mask)`` [rows, longest] of token id lists, padded on the left."""
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, x in enumerate(rows):
        ids[row, width - len(x):] = torch.tensor(x, dtype=torch.long)
        mask[row, width - len(x):] = 1
    return ids, mask


def length_groups(lengths: Sequence[int], call_cost: int = CALL_COST) -> list[list[int]]:
    """Row indices cut into groups (shortest rows first) minimising ``sum(call_cost + rows * width)``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [float("inf")] * len(order)  # best[j]: cost of the first j rows (in order)
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        width = lengths[order[j - 1]]
        for i in range(j):
            cost = best[i] + call_cost + (j - i) * width
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], len(order)
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def _plain(cache: Any) -> bool:
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return type(cache) is DynamicCache and all(type(layer) in (DynamicLayer, RoomyLayer) for layer in cache.layers)


def prefill(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
            extra: dict, call_cost: int | None = None) -> tuple[torch.Tensor, Any]:
    """``(last position's logits [batch, vocab], KV cache)`` of left-padded rows, for a model whose
    forward takes ``cache=`` (transformers 5); ``extra``: more forward arguments (``logits_to_keep``)."""
    from transformers import DynamicCache

    if call_cost is None:
        call_cost = CALL_COST if input_ids.device.type == "cpu" else 1 << 30
    lengths = attention_mask.sum(-1).tolist()
    groups = length_groups(lengths, call_cost) if len(lengths) > 1 else [[0]]

    def run(rows: list[int] | None) -> Any:
        if rows is None:
            ids, mask, pos = input_ids, attention_mask, position_ids
        else:
            width, index = max(lengths[r] for r in rows), torch.tensor(rows, device=input_ids.device)
            ids, mask, pos = (t.index_select(0, index)[:, -width:] for t in (input_ids, attention_mask, position_ids))
        return model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, cache=DynamicCache(),
                     **extra)

    if len(groups) == 1:
        out = run(None)
        return out.logits[:, -1, :], _with_room(out.cache)
    outs = []
    for rows in groups:
        outs.append(run(rows))
        if not _plain(outs[-1].cache):  # a sliding-window or other cache: no joining, one padded call
            out = run(None)
            return out.logits[:, -1, :], _with_room(out.cache)
    order = [r for rows in groups for r in rows]
    back = torch.empty(len(order), dtype=torch.long, device=input_ids.device)
    back[torch.tensor(order, device=input_ids.device)] = torch.arange(len(order), device=input_ids.device)
    index = [torch.tensor(rows, device=input_ids.device) for rows in groups]
    width, batch = input_ids.shape[1], len(order)
    layers = [tuple(placed([(i, getattr(o.cache.layers[n], kind)) for i, o in zip(index, outs)], batch, width)
                    for kind in ("keys", "values")) for n in range(len(outs[0].cache.layers))]
    logits = torch.cat([o.logits[:, -1, :] for o in outs], 0).index_select(0, back)
    return logits, on(layers, width)


def _with_room(cache: Any) -> Any:
    """A plain cache with room to grow; any other as it is."""
    return roomy([(x.keys, x.values) for x in cache.layers]) if _plain(cache) else cache


def joinable(cache: Any) -> bool:
    """Whether rows can be added to and dropped from ``cache`` (:func:`merge`, :func:`select`)."""
    return _plain(cache)


def merge(a: tuple[Any, torch.Tensor], b: tuple[Any, torch.Tensor]) -> tuple[Any, torch.Tensor]:
    """Two left-padded ``(KV cache, attention mask)`` batches as one, both left-padded to the wider."""
    width, rows = max(a[1].shape[1], b[1].shape[1]), a[1].shape[0] + b[1].shape[0]
    first, second = torch.arange(a[1].shape[0]), torch.arange(a[1].shape[0], rows)
    first, second = first.to(a[1].device), second.to(a[1].device)
    layers = [tuple(placed([(first, getattr(x, kind)), (second, getattr(y, kind))], rows, width)
                    for kind in ("keys", "values")) for x, y in zip(a[0].layers, b[0].layers)]
    mask = a[1].new_zeros((rows, width))
    mask[:a[1].shape[0], width - a[1].shape[1]:] = a[1]
    mask[a[1].shape[0]:, width - b[1].shape[1]:] = b[1]
    return on(layers, width), mask


def select(cache: Any, mask: torch.Tensor, rows: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """The ``rows`` of a left-padded batch, without the leading columns that are padding in all of them."""
    mask = mask.index_select(0, rows)
    start = int((mask.shape[1] - mask.sum(-1)).min())
    layers = [(x.keys.index_select(0, rows)[:, :, start:], x.values.index_select(0, rows)[:, :, start:])
              for x in cache.layers]
    return roomy(layers), mask[:, start:]
