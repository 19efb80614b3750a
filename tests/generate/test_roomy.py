"""The KV cache with room: a decode step writes in place, holds what ``torch.cat`` would, and the model
reads the same attention through it."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from soulchat.generate.roomy import ROOM, roomy


def test_a_roomy_layer_holds_what_cat_would_and_copies_once_per_room():
    gen = torch.Generator().manual_seed(0)
    keys, values = torch.randn(3, 2, 10, 4, generator=gen), torch.randn(3, 2, 10, 4, generator=gen)
    cache, plain = roomy([(keys, values)]), DynamicCache([(keys.clone(), values.clone())])
    buffers = {cache.layers[0]._buf[0].data_ptr()}
    steps = 3 * ROOM + 5
    for _ in range(steps):
        k, v = torch.randn(3, 2, 1, 4, generator=gen), torch.randn(3, 2, 1, 4, generator=gen)
        got, want = cache.update(k, v, 0), plain.update(k, v, 0)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        buffers.add(cache.layers[0]._buf[0].data_ptr())
    assert cache.get_seq_length() == 10 + steps
    assert len(buffers) <= steps // ROOM + 1  # one copy per ROOM steps, not one per step


def test_the_model_reads_the_same_through_a_roomy_cache(random_hf):
    from soulchat.generate.hf import HFGenerator

    gen = HFGenerator(random_hf, 256, 1, 1.0, 1.0, 4, 0, device="cpu", dtype="float32")
    model = gen.model
    ids = torch.randint(5, 200, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # a left-padded row
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    follow = torch.randint(5, 200, (2, ROOM + 8), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=DynamicCache(), use_cache=True)
        plain = out.cache
        room = roomy([(x.keys.clone(), x.values.clone()) for x in plain.layers])
        nxt = pos[:, -1:] + 1
        for t in range(follow.shape[1]):  # past the first room: the buffers grow once
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            a = model(input_ids=follow[:, t:t + 1], attention_mask=mask, position_ids=nxt, cache=plain, use_cache=True)
            b = model(input_ids=follow[:, t:t + 1], attention_mask=mask, position_ids=nxt, cache=room, use_cache=True)
            assert torch.allclose(a.logits, b.logits, atol=1e-5)
            nxt = nxt + 1
    assert type(room.layers[0]).__name__ == "RoomyLayer" and room.get_seq_length() == plain.get_seq_length()
