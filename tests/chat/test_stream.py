"""Streaming a reply's text: the pieces join to the whole reply's decode, and each token is decoded in
a short window (not the whole reply so far), in the terminal chat's turns as in the server's."""

from __future__ import annotations

import random

import pytest

from soulchat.chat.stream import TextPieces


@pytest.fixture(scope="module")
def engine(random_hf):
    from soulchat.chat.engine import Engine

    eng = Engine(random_hf, 256, None, 4, 0, "cpu", "float32")
    yield eng
    eng.close()


class Recording:
    """The tokenizer with the length of every id list it decodes recorded (both decode paths)."""

    def __init__(self, tokenizer):
        self._tok, self.lengths = tokenizer, []
        outer = self

        class Backend:
            def __getattr__(self, name):
                return getattr(tokenizer.backend_tokenizer, name)

            def decode(self, ids, **kw):
                outer.lengths.append(len(ids))
                return tokenizer.backend_tokenizer.decode(ids, **kw)

        self.backend_tokenizer = Backend()

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __call__(self, *args, **kw):
        return self._tok(*args, **kw)

    def decode(self, ids, *args, **kw):
        self.lengths.append(len(ids) if isinstance(ids, list) else ids.numel())
        return self._tok.decode(ids, *args, **kw)


def test_pieces_join_to_the_whole_decode(engine):
    tok = engine.tokenizer
    rng = random.Random(0)
    text = "我最近总是失眠，心里很烦。I can't sleep well... 工作压力很大！\n老板总是批评我😢，怎么办？"
    cases = [tok.encode(text, add_special_tokens=False)]
    cases += [[rng.randrange(len(tok)) for _ in range(rng.randint(1, 80))] for _ in range(40)]  # bytes cut, specials
    for ids in cases:
        got, ends = [], []
        stream = TextPieces(tok, lambda piece, ended: (got.append(piece), ends.append(ended)))
        for i in ids:
            stream.put(i)
        stream.end()
        assert "".join(got) == tok.decode(ids, skip_special_tokens=True)
        assert ends[-1] is True and not any(ends[:-1])
        assert all(piece for piece in got[:-1])  # only the end may be empty
        assert not any(piece.endswith("\ufffd") for piece in got[:-1])  # no character sent cut in two


def test_a_chat_turn_decodes_each_token_in_a_short_window(engine, compose):
    from soulchat.chat.engine import Sampling
    from soulchat.chat.session import Conversation
    from soulchat.registry import build

    cfg = compose(["tracking.enabled=false"])
    recording = Recording(engine.tokenizer)
    engine.tokenizer = recording
    try:
        conv = Conversation(engine, build("guard", cfg.guard), Sampling(200, 0.95, 0.75, 50))
        pieces = []
        reply = conv.say("我最近总是失眠，心里很烦。", lambda kind, piece: pieces.append(piece))
    finally:
        engine.tokenizer = recording._tok
    assert reply == "".join(pieces[1:]).strip() and len(reply) > 50  # the random model says ~200 tokens
    # linear work: a few ids per token, where decoding the reply so far every token would be ~n^2/2
    assert recording.lengths and max(recording.lengths) <= 16
    assert sum(recording.lengths) <= 8 * 200
