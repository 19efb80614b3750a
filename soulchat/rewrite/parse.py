"""Rewritten text -> turns, and the prompt's constraints checked.

An LLM's rewrite arrives as free text. :func:`parse_dialogue` tolerates what models actually write:
``用户:`` or ``用户：``, the SMILE speakers 求助者/支持者 (and every name in :mod:`soulchat.speakers`),
numbering (``1.``, ``1、``, ``(1)``, ``第1轮``), markdown bold, blank lines, utterances spread over
several lines, and an analysis before the dialogue (the SoulChat prompt asks for one). It returns
the utterances as canonical messages (roles ``user`` / ``assistant``).

:func:`validate_dialogue` checks the prompt's constraints and raises
:class:`soulchat.llm.InvalidOutput` with a reason code (``no_dialogue``, ``starts_with_counsellor``,
``ends_with_user``, ``too_few_utterances``, ``too_many_utterances``, ``empty_utterance``, ``meta_text``), so
the client re-asks at the next attempt and the reason is kept.

The prompt's bounds count *utterances* (one speaker's message), not turns (a user message and its
reply, as the corpus counts them): the paper's own example of its prompt's output (Figure 7) has 10
utterances (5 exchanges) and satisfies "8-20 轮".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from soulchat import speakers
from soulchat.llm.client import InvalidOutput

#: text that belongs to the rewriting task, not to a counselling dialogue
META_TEXT = ("改写结果", "改写后", "改写为", "多轮对话", "单轮对话", "单轮长文本", "共情技巧", "对话轮数",
             "以上对话", "以下是改写")

_SPEAKER = "(?i:" + "|".join(map(re.escape, speakers.SPEAKER_NAMES)) + ")"  # longest first, any case
_LINE = re.compile(
    r"^\s*(?:[-*>#]+\s*)?"                                    # bullets, quotes, headings
    r"(?:(?:第\s*\d+\s*轮|\(?\d+[).、.:：]?)\s*)?"               # numbering: 第1轮 / (1) / 1. / 1、
    r"(?:\*\*|【|\[)?\s*(?P<speaker>" + _SPEAKER + r")\s*(?:\*\*|】|\])?"
    r"\s*(?:[（(][^)）]{0,12}[)）])?\s*"                        # 用户（小王）：
    r"(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*(?P<text>.*)$"
)


@dataclass
class ParsedDialogue:
    """Canonical messages plus what was dropped around them."""

    messages: list = field(default_factory=list)
    preamble: str = ""  # text before the first speaker line (an analysis, a heading)
    merged: int = 0  # consecutive lines of one speaker that were joined into one utterance


def parse_dialogue(text: str) -> ParsedDialogue:
    """Split a rewritten dialogue into canonical messages (see the module docstring)."""
    out = ParsedDialogue()
    preamble: list[str] = []
    text = re.sub(r"```[a-zA-Z]*", "", text or "")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            if out.messages:  # a continuation line of the current utterance
                out.messages[-1]["content"] += "\n" + line
            else:
                preamble.append(line)
            continue
        role = speakers.role_of(m.group("speaker"))
        content = m.group("text").strip().strip("*").strip()
        if out.messages and out.messages[-1]["role"] == role:
            out.messages[-1]["content"] += ("\n" + content) if content else ""
            out.merged += 1
        else:
            out.messages.append({"role": role, "content": content})
    out.preamble = "\n".join(preamble)
    for msg in out.messages:
        msg["content"] = msg["content"].strip().strip('"“”').strip()
    return out


def validate_dialogue(parsed: ParsedDialogue, min_utterances: int, max_utterances: int) -> list[dict]:
    """The messages if they satisfy the prompt's constraints.

    Raises:
        InvalidOutput: the first constraint broken, as ``"<reason code>: <detail>"``.
    """
    msgs = parsed.messages
    if not msgs:
        raise InvalidOutput("no_dialogue: no line starts with a speaker (用户：/心理咨询师：)")
    if msgs[0]["role"] != "user":
        raise InvalidOutput("starts_with_counsellor: the dialogue must start with the user")
    if msgs[-1]["role"] != "assistant":
        raise InvalidOutput("ends_with_user: the dialogue must end with the counsellor")
    empty = [i for i, m in enumerate(msgs, 1) if not m["content"]]
    if empty:
        raise InvalidOutput(f"empty_utterance: utterance {empty[0]} is empty")
    if len(msgs) < min_utterances:
        raise InvalidOutput(f"too_few_utterances: {len(msgs)} utterances, the prompt asks for {min_utterances}-{max_utterances}")
    if len(msgs) > max_utterances:
        raise InvalidOutput(f"too_many_utterances: {len(msgs)} utterances, the prompt asks for {min_utterances}-{max_utterances}")
    for i, m in enumerate(msgs, 1):
        hit = next((w for w in META_TEXT if w in m["content"]), None)
        if hit:
            raise InvalidOutput(f"meta_text: utterance {i} contains {hit!r} (text about the rewriting task)")
    return msgs
