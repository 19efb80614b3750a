"""The decode loop: greedy equals Hugging Face's generate; batched rows equal rows alone; top-p."""

from __future__ import annotations

import torch

from soulchat.generate.hf import HFGenerator
from soulchat.generate.prefill import left_pad
from soulchat.generate.sampling import decode, sample_rows
from soulchat.testing.greedy import same_but_ties


def _batch(gen, histories):
    enc = [gen.encode({"history": h}) for h in histories]
    return enc, *left_pad(enc, gen.pad_id)


def test_greedy_equals_hf_generate_and_rows_alone(tiny_train, histories):
    gen = HFGenerator(tiny_train / "hf", 256, 12, 0.75, 0.95, 4, 0, device="cpu", dtype="float32")
    eos = gen.tokenizer.eos_token_id
    enc, ids, mask = _batch(gen, histories)
    ours = decode(gen.model, ids, mask, 12, eos, gen.pad_id, top_k=1)
    hf = gen.model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=12,
                            pad_token_id=gen.pad_id, eos_token_id=eos)[:, ids.shape[1]:]
    assert ours.shape[1] <= hf.shape[1]
    for row, x in enumerate(enc):  # equal token for token, but where two tokens tie within float noise
        assert same_but_ties(gen.model, x, ours[row].tolist(), hf[row, :ours.shape[1]].tolist())
        alone = decode(gen.model, torch.tensor([x]), torch.ones((1, len(x)), dtype=torch.long), 12, eos, gen.pad_id, top_k=1)
        assert same_but_ties(gen.model, x, alone[0].tolist(), ours[row, :alone.shape[1]].tolist())


def _draw(logits, temperature, top_k, top_p):
    rows = logits.shape[0]
    gens = [torch.Generator().manual_seed(r) for r in range(rows)]
    return sample_rows(logits, torch.full((rows, 1), temperature), [top_k] * rows, torch.full((rows, 1), top_p), gens)


def test_sampling_keeps_the_top_p_nucleus_of_the_top_k():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    drawn = _draw(logits, 1.0, 3, 0.75)  # nucleus {0, 1}: 0.5 < 0.75 <= 0.8
    counts = torch.bincount(drawn, minlength=4)
    assert counts[2] == 0 and counts[3] == 0
    assert abs(counts[0].item() / 2000 - 0.5 / 0.8) < 0.05
    assert set(_draw(logits, 1.0, 4, 1.0).tolist()) == {0, 1, 2, 3}
    assert torch.equal(_draw(logits[:3], 0.95, 1, 0.75), torch.zeros(3, dtype=torch.long))


def test_a_reply_does_not_depend_on_batch_size_order_or_the_other_samples(tiny_train, histories):
    """Each sample draws from a stream seeded by the run's seed and its id, so generate.batch_size, the
    length sort and the other samples do not change what it says (the old per-batch seed did)."""
    samples = [{"id": f"s{i}", "history": h} for i, h in enumerate(histories * 2)]

    def replies(batch_size, sort, subset=samples, seed=0):
        gen = HFGenerator(tiny_train / "hf", 256, 12, 0.75, 0.95, batch_size, seed, device="cpu", dtype="float32",
                          sort_by_length=sort)
        return {s["id"]: reply for batch in gen.generate(subset) for s, reply in batch}

    base = replies(1, True)
    for other in (replies(4, False), replies(3, True, samples[::-1]), replies(2, True, samples[1::2])):
        # equal except where a batch's last-bit float noise lands a draw on a boundary (vanishingly rare)
        same = sum(other[k] == base[k] for k in other)
        assert same >= 0.8 * len(other), (same, len(other))
    assert sum(a != b for a, b in zip(base.values(), replies(1, True, seed=1).values())) >= len(base) // 2
