"""The batching engine: requests arriving while a batch runs join it at its next step without its rows
being recomputed, and each row says what it would say alone."""

from __future__ import annotations

import time

from soulchat.chat.engine import Engine, Sampling
from soulchat.testing.greedy import top_choices


class Tokens:
    """A streamer that notes, at each of its tokens, how many tokens ``first`` had said by then."""

    def __init__(self, first=None):
        self.first, self.seen = first, []

    def put(self, token):
        self.seen.append(self.first.tokens if self.first is not None else None)

    def end(self):
        pass


def test_newcomers_join_a_running_batch_after_a_step(random_hf):
    engine = Engine(random_hf, 256, None, 8, 0, "cpu", "float32", segment=16)
    try:
        ids = [engine.encode([{"role": "user", "content": f"第{i}个：我很孤独。"}]) for i in range(4)]
        first = engine.submit(ids[0], Sampling(200, 0.95, 0.75, 50), Tokens())
        deadline = time.monotonic() + 60
        while first.tokens < 1:  # it runs alone
            assert time.monotonic() < deadline
            time.sleep(0.001)
        late = [engine.submit(x, Sampling(24, 0.95, 0.75, 50), Tokens(first)) for x in ids[1:]]
        for job in [*late, first]:
            assert job.done.wait(120)
    finally:
        engine.close()
    # the newcomers' first tokens came while the first job was still early in its reply
    assert max(job.streamer.seen[0] for job in late) < 12
    assert engine.batches[0] == 1 and max(engine.batches) == 4


class Ids:
    """A streamer that keeps the token ids."""

    def __init__(self):
        self.ids = []

    def put(self, token):
        self.ids.append(token)

    def end(self):
        pass


def _wait(job, tokens=None):
    deadline = time.monotonic() + 120
    while not (job.done.is_set() if tokens is None else job.tokens >= tokens):
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_newcomers_join_the_running_batch_without_recomputing_it_and_say_what_they_say_alone(random_hf):
    greedy, sampled = Sampling(40, 1.0, 1.0, 1), Sampling(40, 0.95, 0.75, 50)
    engine = Engine(random_hf, 256, None, 8, 7, "cpu", "float32")
    prefilled = []
    hook = engine.gen.model.register_forward_pre_hook(
        lambda m, a, kw: prefilled.append(int(kw["attention_mask"].sum())) if kw["input_ids"].shape[1] > 1 else None,
        with_kwargs=True)
    try:
        ids = [engine.encode([{"role": "user", "content": text}]) for text in
               ("我很孤独。", "我最近压力很大，" * 12 + "怎么办？", "失眠。", "我和父母总是吵架，不知道怎么办。")]
        first = engine.submit(ids[0], sampled, Ids())  # job 0: seed 7
        _wait(first, 3)
        late = [engine.submit(x, greedy, Ids()) for x in ids[1:]]
        _wait(late[0], 2)
        last = engine.submit(ids[0], greedy, Ids())
        for job in [first, *late, last]:
            _wait(job)
        alone = [engine.generate(x, greedy, Ids()) for x in [*ids[1:], ids[0]]]
    finally:
        hook.remove()
        engine.close()
    assert engine.batches[0] == 1 and max(engine.batches) >= 3  # they ran together
    # every input was read once: no running row was recomputed when the others joined
    assert sum(prefilled) == sum(map(len, ids[1:])) + 2 * len(ids[0]) + sum(map(len, [*ids[1:], ids[0]]))
    for joined, own in zip([*late, last], alone):  # greedy rows: what they say alone
        assert len(joined.streamer.ids) == len(own.streamer.ids) == 40
        assert top_choices(engine.gen.model, own.ids, joined.streamer.ids)
        assert top_choices(engine.gen.model, own.ids, own.streamer.ids)
    again = Engine(random_hf, 256, None, 8, 7, "cpu", "float32")
    try:
        solo = again.generate(ids[0], sampled, Ids())  # job 0 again, alone
    finally:
        again.close()
    assert first.streamer.ids == solo.streamer.ids  # a sampled row's draws do not depend on its batch
    assert first.finish_reason == "length" and all(j.finish_reason == "length" for j in late)


def test_each_row_samples_with_its_own_settings_from_the_distribution_they_give():
    import torch

    from soulchat.generate.sampling import sample_rows

    logits = torch.randn(1, 50, generator=torch.Generator().manual_seed(3)) * 2
    rows = logits.repeat(3, 1)
    temperature, top_p = torch.tensor([[0.95], [0.95], [1.0]]), torch.tensor([[0.75], [1.0], [1.0]])
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    drawn = torch.stack([sample_rows(rows, temperature, [10, 50, 1], top_p, gens) for _ in range(4000)])
    # the distribution by hand: softmax at temperature 0.95 over the top 10, then the 0.75 nucleus
    values, index = torch.topk(torch.softmax(logits[0] / 0.95, -1), 10)
    values = values / values.sum()
    keep = (values.cumsum(-1) - values) < 0.75
    expected = torch.zeros(50).index_put_((index[keep],), values[keep] / values[keep].sum())
    top10 = set(torch.topk(logits[0], 10).indices.tolist())
    assert set(drawn[:, 0].tolist()) <= top10 and len(set(drawn[:, 1].tolist())) > len(set(drawn[:, 0].tolist()))
    assert (drawn[:, 2] == logits[0].argmax()).all()  # top-k 1: greedy
    freq = torch.bincount(drawn[:, 0], minlength=50) / 4000
    assert (freq - expected).abs().max() < 0.04
    again = [torch.Generator().manual_seed(0)]
    assert [int(sample_rows(logits, temperature[:1], [10], top_p[:1], again)) for _ in range(50)] == drawn[:50, 0].tolist()


def test_a_cache_that_cannot_be_joined_lets_newcomers_in_every_segment_by_re_reading_the_rows(random_hf, monkeypatch):
    import soulchat.generate.prefill as prefill

    monkeypatch.setattr(prefill, "joinable", lambda cache: False)  # as a sliding-window cache
    greedy = Sampling(30, 1.0, 1.0, 1)
    engine = Engine(random_hf, 256, None, 8, 0, "cpu", "float32", segment=4)
    try:
        ids = [engine.encode([{"role": "user", "content": f"第{i}个：我很孤独。"}]) for i in range(3)]
        first = engine.submit(ids[0], greedy, Ids())
        _wait(first, 1)
        late = [engine.submit(x, greedy, Ids()) for x in ids[1:]]
        for job in [first, *late]:
            _wait(job)
        alone = [engine.generate(x, greedy, Ids()) for x in ids]
    finally:
        engine.close()
    assert engine.batches[0] == 1 and max(engine.batches) == 3  # the first row re-read with the newcomers
    for joined, own in zip([first, *late], alone):
        assert len(joined.streamer.ids) == len(own.streamer.ids) == 30
        assert top_choices(engine.gen.model, own.ids, joined.streamer.ids)
        assert top_choices(engine.gen.model, own.ids, own.streamer.ids)


def test_the_engine_samples_with_cudnn_attention_off_and_restores_it(random_hf, cudnn_attention_on):
    """cuDNN's attention builds a graph for every new shape (90-810 ms each on an H200), and every decode
    step is a new shape: the engine's steps run with it off, as the generate stage's do."""
    import torch

    seen = []
    engine = Engine(random_hf, 256, None, 4, 0, "cpu", "float32",
                    after_step=lambda: seen.append(torch.backends.cuda.cudnn_sdp_enabled()))
    try:
        ids = engine.encode([{"role": "user", "content": "我很孤独。"}])
        job = engine.submit(ids, Sampling(5, 0.95, 0.75, 50), Ids())
        assert job.done.wait(60)
        engine.generate(ids, Sampling(5, 0.95, 0.75, 50), Ids())  # in the calling thread
    finally:
        engine.close()
    assert len(seen) >= 2 and not any(seen)
    assert torch.backends.cuda.cudnn_sdp_enabled()  # put back once the engine stopped
