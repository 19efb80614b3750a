"""The grouped first forward pass: rows of very different lengths are not all computed at the longest
one's width, and decoding after it gives what each row gives alone."""

from __future__ import annotations

import torch

from soulchat.generate.hf import HFGenerator
from soulchat.generate.prefill import CALL_COST, left_pad, length_groups
from soulchat.generate.sampling import decode
from soulchat.testing.greedy import same_but_ties


def test_groups_cover_every_row_once_and_cost_less_than_one_padded_call():
    lengths = [23, 23, 256, 156, 156, 110, 60, 214, 25, 25, 25, 195, 28, 32, 28, 28]
    groups = length_groups(lengths)
    assert sorted(r for g in groups for r in g) == list(range(len(lengths)))
    cost = sum(CALL_COST + len(g) * max(lengths[r] for r in g) for g in groups)
    assert 1 < len(groups) < len(lengths) and cost < 0.6 * (CALL_COST + len(lengths) * 256)
    assert length_groups([40, 41, 39, 40]) == [[2, 0, 3, 1]]  # similar lengths: one call
    assert length_groups([7]) == [[0]]


def test_rows_are_padded_on_the_left_and_masked():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_mixed_lengths_prefill_little_padding_and_decode_as_rows_alone(tiny_train):
    gen = HFGenerator(tiny_train / "hf", 256, 12, 0.75, 0.95, 8, 0, device="cpu", dtype="float32")
    eos = gen.tokenizer.eos_token_id
    long = [{"role": "user", "content": "我最近压力很大，" * 30 + "怎么办？"}]
    short = [[{"role": "user", "content": f"第{i}个：我很孤独。"}] for i in range(5)]
    enc = [gen.encode({"history": h}) for h in [short[0], long, *short[1:]]]
    ids, mask = left_pad(enc, gen.pad_id)
    width = ids.shape[1]
    assert width > 4 * min(map(len, enc))
    seen = []
    hook = gen.model.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["input_ids"].shape), with_kwargs=True)
    try:
        together = decode(gen.model, ids, mask, 12, eos, gen.pad_id, top_k=1)
    finally:
        hook.remove()
    prefill = [s for s in seen if s[1] > 1]
    computed = sum(rows * w for rows, w in prefill)
    assert computed < 0.5 * len(enc) * width  # not every row at the long one's width
    assert sum(rows for rows, _ in prefill) == len(enc)
    for row, x in enumerate(enc):
        alone = decode(gen.model, torch.tensor([x]), torch.ones((1, len(x)), dtype=torch.long), 12, eos,
                       gen.pad_id, top_k=1)
        assert same_but_ties(gen.model, x, alone[0].tolist(), together[row, :alone.shape[1]].tolist())


def test_batches_merged_and_rows_selected_step_as_each_row_alone(tiny_train):
    from soulchat.generate.prefill import joinable, merge, prefill, select

    gen = HFGenerator(tiny_train / "hf", 256, 12, 0.75, 0.95, 8, 0, device="cpu", dtype="float32")
    model = gen.model
    rows = [gen.encode({"history": [{"role": "user", "content": text}]}) for text in
            ("我很孤独。", "失眠，" * 8 + "怎么办？", "我和父母总是吵架。")]

    def first(batch):
        ids, mask = left_pad(batch, gen.pad_id)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, cache = prefill(model, ids, mask, pos, {"logits_to_keep": 1})
        return logits, cache, mask

    def step(cache, mask, tokens, pos):
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        out = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=pos, cache=cache, use_cache=True)
        return out.logits[:, -1, :]

    with torch.inference_mode():
        alone = []
        for x in rows:
            logits, cache, mask = first([x])
            token = logits.argmax(-1)
            alone.append((token, step(cache, mask, token, torch.tensor([[len(x)]]))))
        a, b = first([rows[0], rows[2]]), first([rows[1]])  # b is wider: a's rows get left-padded
        assert joinable(a[1]) and joinable(b[1])
        cache, mask = merge(a[1:], b[1:])
        assert mask.shape == (3, len(rows[1])) and mask.sum(-1).tolist() == [len(rows[i]) for i in (0, 2, 1)]
        tokens = torch.cat([alone[i][0] for i in (0, 2, 1)])
        pos = torch.tensor([[len(rows[i])] for i in (0, 2, 1)])
        merged = step(cache, mask, tokens, pos)
        for n, i in enumerate((0, 2, 1)):
            assert torch.allclose(merged[n], alone[i][1][0], atol=1e-4)
        cache, mask = merge(a[1:], b[1:])
        kept, kept_mask = select(cache, mask, torch.tensor([0, 1]))  # without the wide row: padding trimmed
        assert kept_mask.shape == (2, max(len(rows[0]), len(rows[2]))) and kept.layers[0].keys.shape[2] == kept_mask.shape[1]
        picked = step(kept, kept_mask, tokens[:2], pos[:2])
        for n, i in enumerate((0, 2)):
            assert torch.allclose(picked[n], alone[i][1][0], atol=1e-4)
