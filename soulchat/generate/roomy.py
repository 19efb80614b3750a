"""A KV cache with room to grow: a decode step writes its one new position in place.

Hugging Face's :class:`DynamicLayer` appends each step's keys and values with ``torch.cat``, which
copies the whole cache into newly allocated memory every step. :class:`RoomyLayer` keeps them in
buffers with spare positions and hands the model views of the filled part; when the room runs out
the buffers grow by :data:`ROOM` positions (one copy per ``ROOM`` steps). The values, and so the
attention over them, are the same. Measured on the serve benchmark's 16 rows of 15-256 tokens: a
decode step 3.1-3.6 -> 2.6-2.9 ms of CPU (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

#: spare positions a layer's buffers get when they are made or run out of room
ROOM = 64


class RoomyLayer(DynamicLayer):
    """A :class:`DynamicLayer` whose ``keys`` / ``values`` are views of larger buffers."""

    def _room(self, need: int) -> None:
        """Buffers that hold the current keys and values and have ``need`` more positions free."""
        n = self.keys.shape[-2]
        buf = getattr(self, "_buf", None)
        if buf is not None and self.keys.data_ptr() == buf[0].data_ptr() and n + need <= buf[0].shape[-2]:
            return  # (a keys tensor set from outside, e.g. by batch_select_indices, gets new buffers)
        self._buf = (_copied(self.keys, need + ROOM), _copied(self.values, need + ROOM))
        self.keys, self.values = self._buf[0][..., :n, :], self._buf[1][..., :n, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized or self.keys.numel() == 0:
            return super().update(key_states, value_states, *args, **kwargs)
        n, add = self.keys.shape[-2], key_states.shape[-2]
        self._room(add)
        self._buf[0][..., n:n + add, :] = key_states
        self._buf[1][..., n:n + add, :] = value_states
        self.keys, self.values = self._buf[0][..., :n + add, :], self._buf[1][..., :n + add, :]
        return self.keys, self.values


def placed(parts: Sequence[tuple[torch.Tensor, torch.Tensor]], rows: int, width: int, room: int = ROOM) -> torch.Tensor:
    """A zeroed buffer [rows, heads, width + room, dim] holding each ``(row index, states)`` part's rows at
    its indices, right-aligned at ``width`` (so left-padded): how batches are joined without a second copy."""
    like = parts[0][1]
    buf = like.new_zeros((rows, like.shape[1], width + room, like.shape[3]))
    for index, states in parts:
        buf[:, :, width - states.shape[-2]:width].index_copy_(0, index, states)
    return buf


def on(buffers: Sequence[tuple[torch.Tensor, torch.Tensor]], width: int) -> Any:
    """A :class:`DynamicCache` whose layers' first ``width`` positions are in these ``(keys, values)`` buffers."""
    cache = DynamicCache()
    cache.layers = []
    for keys, values in buffers:
        layer = RoomyLayer()
        layer.lazy_initialization(keys, values)
        layer._buf = (keys, values)
        layer.keys, layer.values = keys[..., :width, :], values[..., :width, :]
        cache.layers.append(layer)
    return cache


def _copied(t: torch.Tensor, room: int) -> torch.Tensor:
    """``t`` [batch, heads, positions, dim] in a buffer with ``room`` positions more."""
    return placed([(torch.arange(t.shape[0], device=t.device), t)], t.shape[0], t.shape[-2], room)


def roomy(layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A :class:`DynamicCache` of ``(keys, values)`` per layer ([batch, heads, positions, dim]), with room."""
    return on([(_copied(k, ROOM), _copied(v, ROOM)) for k, v in layers], layers[0][0].shape[-2])
