"""The rule engine behind the ``crisis`` guard: a lexicon of patterns and the context that
suppresses a hit (idiom, someone else as subject, negation, a past that is over).

A :class:`Lexicon` holds one language's rules; :func:`screen` returns the first hit that survives
its checks as a :class:`soulchat.guard.Verdict`. All matching runs on :func:`normalize`-d text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional

from soulchat.guard import CLEAR, Verdict

# traditional forms of the characters the Chinese rules use, so both scripts match
_TRAD = str.maketrans("殺殘樓藥輕結這個們說覺過離開傷劃燒價報導聞時後現為會讓還麼沒來嗎對頭腦鬧緒點兒車邊橋滅斷殺壓媽爺奶孩親們誰隻寫遺囑絕於無聽見從厭勁瘋極盡殤",
                      "杀残楼药轻结这个们说觉过离开伤划烧价报导闻时后现为会让还么没来吗对头脑闹绪点儿车边桥灭断杀压妈爷奶孩亲们谁只写遗嘱绝于无听见从厌劲疯极尽殇")
_CJK = r"\u3400-\u9fff"
_SPACE_NEAR_CJK = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")
_MASK = "□"


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, traditional to simplified for the rule
    characters, spaces around Chinese removed and other runs of spaces made one."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TRAD)
    return re.sub(r"\s+", " ", _SPACE_NEAR_CJK.sub("", text)).strip()


def alt(words: Iterable[str]) -> str:
    """A regex alternation, longest first so that a longer word wins over its prefix."""
    return "(?:" + "|".join(sorted(set(words), key=len, reverse=True)) + ")"


@dataclass(frozen=True)
class Rule:
    """One pattern of one category.

    Attributes:
        category: the verdict's category.
        code: the reason code (``<category>.<code>``).
        pattern: a compiled regex run on the masked, normalised text.
        person: ``self``: suppressed when someone else is the subject (a dropped subject is the
            speaker); ``explicit``: needs a first-person reference as the last one before the hit;
            ``any``: the pattern itself fixes who (``打我``) or anyone's asking is a risk.
        tense: ``resolved``: suppressed when the message sets it in a past that is over;
            ``past``: suppressed by any past frame without an ongoing marker; ``none``: never.
        negatable: suppressed when a negation stands right before the hit (``不会自杀``).
    """

    category: str
    code: str
    pattern: re.Pattern
    person: str = "self"
    tense: str = "resolved"
    negatable: bool = True


@dataclass(frozen=True)
class Lexicon:
    """One language's rules and context patterns (see :mod:`soulchat.guard.zh`, :mod:`.en`)."""

    masks: re.Pattern  # idioms blanked before matching (累死了, 杀青, dying to)
    rules: tuple  # of Rule, in priority order
    first: re.Pattern  # a first-person reference
    other: re.Pattern  # someone else: third person, you, the news, fiction, a game
    report: re.Pattern  # a reporting verb: a dropped subject after it is the reported person
    negation: re.Pattern  # matched against the text just before a hit (ends with $)
    past: re.Pattern  # a past frame (小时候, 以前)
    resolved: re.Pattern  # that past is over (现在好多了)
    ongoing: re.Pattern  # it is still going on (最近, 又, 现在还)
    object_of: re.Pattern = re.compile(r"(?!x)x")  # a verb right before a person makes them its object ($)
    described: re.Pattern = re.compile(r"(?!x)x")  # right after a hit: it describes someone (想自杀的人)
    clause: re.Pattern = re.compile(r"[,，、:：]")
    sentence: re.Pattern = re.compile(r"[。！？!?；;\n…~]|\.(?:\s|$)")


def mask(lex: Lexicon, text: str) -> str:
    """The text with every idiom blanked (same length, so offsets still line up)."""
    return lex.masks.sub(lambda m: _MASK * len(m.group()), text)


def _last_ref(lex: Lexicon, text: str) -> Optional[str]:
    """The last person mentioned, skipping someone who is the object of a verb (我恨他恨得…)."""
    refs = [(m.end(), kind == "other", m.start(), kind) for kind, pat in (("first", lex.first), ("other", lex.other))
            for m in pat.finditer(text)]
    for _, _, start, kind in sorted(refs, reverse=True):
        if kind == "other" and lex.object_of.search(text, 0, start):
            continue
        return kind
    return None


def _speaker(lex: Lexicon, before: str, mode: str) -> bool:
    """Whether the hit is about the speaker, from the sentence text before it."""
    if mode == "any":
        return True
    parts = lex.clause.split(before)
    ref = _last_ref(lex, parts[-1])
    if ref is None and len(parts) > 1 and (lex.report.search(parts[-1]) or mode == "explicit"):
        ref = _last_ref(lex, "".join(parts[:-1]))  # 我朋友失恋了，说不想活了: the friend
    if mode == "explicit":
        return ref == "first"
    return ref != "other"


def _sentence_start(lex: Lexicon, text: str, pos: int) -> int:
    start = 0
    for m in lex.sentence.finditer(text, 0, pos):
        start = m.end()
    return start


def _time_suppressed(lex: Lexicon, text: str, tense: str) -> bool:
    if tense == "none" or not lex.past.search(text) or lex.ongoing.search(text):
        return False
    return tense == "past" or bool(lex.resolved.search(text))


def screen(lex: Lexicon, text: str) -> Verdict:
    """The first rule hit in ``text`` (already normalised) that survives its checks.

    Not flagged, the reason says why the last suppressed hit was let go (``other_person``,
    ``negated``, ``past``), ``idiom`` when only idioms matched, else ``clear``.
    """
    masked = mask(lex, text)
    why = "idiom" if masked != text else "clear"
    for rule in lex.rules:
        for m in rule.pattern.finditer(masked):
            before = masked[_sentence_start(lex, masked, m.start()):m.start()]
            if rule.negatable and lex.negation.search(before):
                why = "negated"
            elif not _speaker(lex, before, rule.person) or lex.described.match(masked, m.end()):
                why = "other_person"
            elif _time_suppressed(lex, masked, rule.tense):
                why = "past"
            else:
                return Verdict(True, rule.category, f"{rule.category}.{rule.code}")
    return CLEAR if why == "clear" else Verdict(False, None, why)
