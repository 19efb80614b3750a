"""A stand-in engine that says a fixed reply, for the tests where the reply's words matter (the guard
reads them in their conversation): one character per token id, through the real text streamer."""

from __future__ import annotations


class CharTokenizer:
    """Token ids are code points (``decode`` joins them)."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


class ScriptedJob:
    def __init__(self, tokens: int):
        self.finish_reason, self.error, self.tokens = "stop", None, tokens

    def cancel(self) -> None:
        pass


class ScriptedEngine:
    """``generate`` (the terminal chat's) and ``submit`` (the server's) stream ``reply``; ``encoded``
    keeps the messages each turn was encoded from."""

    def __init__(self, reply: str):
        self.reply, self.tokenizer, self.encoded = reply, CharTokenizer(), []

    def encode(self, messages):
        self.encoded.append([dict(m) for m in messages])
        return [1, 2, 3]

    def generate(self, ids, sampling, streamer):
        for ch in self.reply:
            streamer.put(ord(ch))
        streamer.end()
        return ScriptedJob(len(self.reply))

    submit = generate
