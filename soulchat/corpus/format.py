"""The paper's input format, one implementation for training and inference.

``render_input(messages)`` gives the text ``用户：u1\\n心理咨询师：p1\\n…用户：uk\\n心理咨询师：``; the
model's target is the counsellor's next reply followed by the tokenizer's eos token.

Token ids are built from pieces, never by tokenising a rendered history: each utterance's content is
tokenised once, and a message's segment is ``speaker ids + content ids + newline ids`` (the speaker
prefixes and the newline are tokenised once per tokenizer, :class:`Template`). An input is the
segments of the kept messages followed by the counsellor prefix. :func:`history_start` decides which
messages are kept: the oldest whole turns are dropped until the input fits ``max_input_tokens`` (and
at most ``max_history_turns`` earlier turns remain); the newest user message is never cut. The corpus
stage (:mod:`soulchat.corpus.expand`) and :func:`encode_input` both call it, so generation sees
exactly the ids training saw.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from soulchat import speakers

SPEAKERS = speakers.LABELS  # role -> the label rendered before its utterance
#: the input budget training used, written beside an export's weights (soulchat.train.export) and read by
#: chat / serve (soulchat.chat.model), which must not import training to find it
FORMAT_FILE = "soulchat_format.json"
USER, COUNSELLOR, COLON = SPEAKERS[speakers.USER], SPEAKERS[speakers.ASSISTANT], speakers.COLON


def render_input(messages: Sequence[dict]) -> str:
    """The paper's input text for ``messages`` (history ending with the user's message)."""
    return "".join(f"{SPEAKERS[m['role']]}{COLON}{m['content']}\n" for m in messages) + f"{COUNSELLOR}{COLON}"


#: a speaker label at the start of the text or of a line, as render_input writes it
_LABEL = re.compile("(?:^|\n)(" + "|".join(re.escape(label) for label in SPEAKERS.values()) + ")" + COLON)
_ROLE = {label: role for role, label in SPEAKERS.items()}


def parse_input(text: str) -> list[dict] | None:
    """The messages :func:`render_input` made ``text`` from (ending with the user's), or None for any
    other text: it counts only when rendering the messages gives ``text`` back exactly."""
    cuts = list(_LABEL.finditer(text))
    if not cuts or cuts[0].start() != 0:
        return None
    msgs = [{"role": _ROLE[m.group(1)], "content": text[m.end():nxt.start() if nxt else len(text)]}
            for m, nxt in zip(cuts, cuts[1:] + [None])]
    if msgs[-1] != {"role": "assistant", "content": ""} or len(msgs) < 2 or msgs[-2]["role"] != "user":
        return None
    msgs = msgs[:-1]
    return msgs if render_input(msgs) == text else None


@dataclass(frozen=True)
class Template:
    """The constant pieces' token ids for one tokenizer."""

    user: np.ndarray
    counsellor: np.ndarray
    newline: np.ndarray
    eos: int

    @classmethod
    def of(cls, tokenizer: Any) -> "Template":
        """Raises ``ValueError`` when the tokenizer has no eos token (targets must end with one)."""
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos token; targets end with eos so generation can stop")
        ids = lambda s: np.asarray(tokenizer.encode(s, add_special_tokens=False), dtype=np.int64)  # noqa: E731
        return cls(ids(USER + COLON), ids(COUNSELLOR + COLON), ids("\n"), int(tokenizer.eos_token_id))

    def prefix(self, role: str) -> np.ndarray:
        return self.user if role == "user" else self.counsellor

    def segment_lengths(self, roles: Sequence[str], content_lengths: Sequence[int]) -> np.ndarray:
        """Token length of each message's segment (speaker + content + newline)."""
        pre = np.array([len(self.user) if r == "user" else len(self.counsellor) for r in roles], dtype=np.int64)
        return pre + np.asarray(content_lengths, dtype=np.int64) + len(self.newline)


def history_start(cum: Sequence[int], user_positions: Sequence[int], reply: int, prompt_len: int,
                  max_input_tokens: int | None, max_history_turns: int | None) -> int | None:
    """Index of the first message kept in the input for the reply at message index ``reply``.

    Args:
        cum: cumulative segment lengths, ``cum[i]`` = tokens before message ``i`` (length n + 1).
        user_positions: sorted indices of the user messages.
        reply: index of the counsellor message being predicted (or ``len(messages)`` at inference).
        prompt_len: tokens of the trailing counsellor prefix.
        max_input_tokens: the input budget (None = unlimited).
        max_history_turns: keep at most this many earlier turns before the newest user message.

    Returns:
        A user message index (inputs always start with the user), or None when even the newest
        user message alone does not fit (then only its last tokens are kept, in training as in
        :func:`encode_input`).
    """
    last = bisect_left(user_positions, reply) - 1  # the newest user message before the reply
    if last < 0:
        return None
    first = 0 if max_history_turns is None else max(0, last - max_history_turns)
    if max_input_tokens is not None:
        need = cum[reply] + prompt_len - max_input_tokens  # cum[start] must be >= need
        if need > 0:
            first = max(first, bisect_left(user_positions, need, lo=first, hi=last + 1,
                                           key=lambda p: cum[p]))
    if first > last:
        return None
    return user_positions[first]


def encode_input(tokenizer: Any, messages: Sequence[dict], max_input_tokens: int | None = None,
                 max_history_turns: int | None = None) -> list[int]:
    """Token ids of the model input for ``messages`` (history ending with the user), as in training.

    When the newest user message alone exceeds the budget its last ``max_input_tokens`` ids are
    kept, exactly as the corpus stage cuts such a training sample.

    Raises:
        ValueError: ``messages`` is empty or does not end with the user.
    """
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("encode_input needs a history that ends with the user's message")
    tpl = Template.of(tokenizer)
    contents = tokenizer([m["content"] for m in messages], add_special_tokens=False)["input_ids"]
    roles = [m["role"] for m in messages]
    seg = tpl.segment_lengths(roles, [len(c) for c in contents])
    cum = np.concatenate([[0], np.cumsum(seg)]).tolist()
    users = [i for i, r in enumerate(roles) if r == "user"]
    start = history_start(cum, users, len(messages), len(tpl.counsellor), max_input_tokens, max_history_turns)
    ids: list[int] = []
    for i in range(users[-1] if start is None else start, len(messages)):
        ids += tpl.prefix(roles[i]).tolist() + list(contents[i]) + tpl.newline.tolist()
    ids += tpl.counsellor.tolist()
    if max_input_tokens is not None and len(ids) > max_input_tokens:
        ids = ids[-max_input_tokens:]
    return ids


def encode_target(tokenizer: Any, reply: str, max_target_tokens: int | None = None) -> list[int]:
    """Token ids of a target: the reply's content ids, cut to leave room for eos, then eos."""
    tpl = Template.of(tokenizer)
    ids = tokenizer.encode(reply, add_special_tokens=False)
    if max_target_tokens is not None:
        ids = ids[: max_target_tokens - 1]
    return list(ids) + [tpl.eos]
