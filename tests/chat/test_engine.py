"""The batching engine: requests arriving while a small batch runs join it after a step, not after
``segment`` steps, when they would at least double it."""

from __future__ import annotations

import time

from soulchat.chat.engine import Engine, Sampling


class Tokens:
    """A streamer that notes, at each of its tokens, how many tokens ``first`` had said by then."""

    def __init__(self, first=None):
        self.first, self.seen = first, []

    def put(self, token):
        self.seen.append(self.first.tokens if self.first is not None else None)

    def end(self):
        pass


def test_newcomers_that_double_a_batch_join_it_after_a_step(random_hf):
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
