"""A reply's token ids to text pieces as they are sampled, decoding a few tokens per step.

Hugging Face's ``TextStreamer`` decodes the whole reply so far at every token (quadratic in its
length, and through the tokenizer's Python wrapper); :class:`TextPieces` decodes only the tokens since
the last emitted piece, with the one before them as context (the incremental detokenizing of vLLM and
TGI), so each token costs one decode of a few ids (and each emitted piece one more). A piece is emitted once it is whole: a byte-level
token that ends inside a character waits for the rest (its decode ends with U+FFFD). The pieces join
to the decode of the whole reply, special tokens skipped.
"""

from __future__ import annotations

from typing import Any, Callable

INCOMPLETE = "\ufffd"  # what a byte-level decode ends with when a character is cut


def fast_decode(tokenizer: Any) -> Callable[[list[int]], str]:
    """``ids -> text`` (special tokens skipped): the Rust tokenizer directly when the Python wrapper
    adds nothing (no clean-up of spaces), else ``tokenizer.decode``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return lambda ids: backend.decode(ids, skip_special_tokens=True)
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)


class TextPieces:
    """The streamer a :class:`soulchat.chat.engine.Job` takes: ``put(token_id)`` per sampled token,
    ``end()`` once; ``on_text(piece, ended)`` gets each whole piece, and ``("", True)`` or the rest at
    the end."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str, bool], None],
                 decode: Callable[[list[int]], str] | None = None):
        self.decode = decode or fast_decode(tokenizer)
        self.on_text = on_text
        self.ids: list[int] = []
        self._prefix = 0  # ids[_prefix:_read]: context already emitted, decoded again for its spacing
        self._read = 0  # ids from here on are not emitted yet
        self._before = ""  # decode(ids[_prefix:_read]), kept until they move

    def _new_text(self) -> tuple[str, bool]:
        now, before = self.decode(self.ids[self._prefix:]), self._before
        return now[len(before):], len(now) > len(before) and not now.endswith(INCOMPLETE)

    def put(self, token: int) -> None:
        self.ids.append(int(token))
        piece, whole = self._new_text()
        if whole:
            self._prefix, self._read = self._read, len(self.ids)
            self._before = self.decode(self.ids[self._prefix:self._read])
            self.on_text(piece, False)

    def end(self) -> None:
        piece, _ = self._new_text()
        self._prefix = self._read = len(self.ids)
        self._before = ""
        self.on_text(piece, True)
