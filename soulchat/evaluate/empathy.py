"""A transparent pattern lexicon for the empathy expressions the paper argues for.

The paper (Section 1 and Appendix D) marks counsellor replies with *questioning, comfort,
recognition, listening, trust, emotional support* and *interpretation*, and criticises ChatGPT's
"我很抱歉…以下是一些建议" template of numbered suggestions. Table 1 cannot show any of this; these
rates can. Each category is a list of plain regular expressions below, so anyone can read, dispute
and extend exactly what is counted. A reply counts once per category however often it matches.

This is a lexicon, not a classifier: it measures how often a model *uses the language* of an
expression, a cheap proxy to read next to the CEHS judge and human ratings, not a replacement.
"""

from __future__ import annotations

import re

#: category -> patterns (any match marks the reply)
LEXICON: dict[str, tuple[str, ...]] = {
    # asking the user to say more, open questions (not rhetorical advice)
    "questioning": (
        r"(能|可以|愿意|方便)(和我|跟我|再)?(说说|聊聊|谈谈|分享|讲讲|具体说|详细说)",
        r"(什么|怎样|怎么|为什么|哪些|哪里|多久|如何)[^。！!]{0,20}[？?]",
        r"(是否|有没有|是不是|会不会|能不能)[^。！!]{0,20}[？?]",
        r"(吗|呢|么)[？?]",
    ),
    # soothing, reassuring
    "comfort": (
        r"(别|不要|不用|无需)(太)?(担心|难过|害怕|着急|自责|紧张|焦虑)",
        r"没关系", r"会好起来", r"放轻松", r"抱抱", r"辛苦(你)?了", r"慢慢来",
        r"不是你的错", r"你(并)?不是一个人",
    ),
    # acknowledging the user's effort, qualities, or that things are hard
    "recognition": (
        r"(很|非常|真的)(勇敢|坚强|棒|不容易|难得|了不起)", r"做得(很|非常)?(好|对)",
        r"(欣赏|肯定|赞赏|佩服)你", r"值得(肯定|骄傲|称赞)", r"已经(很|非常)?努力",
        r"这(是|很)(正常|可以理解)的",
    ),
    # reflecting back what was heard
    "listening": (
        r"听起来", r"我(听到|注意到|了解到|明白)(了)?你", r"你(提到|说到|刚才说)",
        r"你的意思是", r"(看得出|感觉到|感受到)你", r"我(能|可以)?(理解|体会)(你|到)",
    ),
    # expressing belief in the user
    "trust": (
        r"(我)?相信你", r"你(一定|肯定)?(能|可以|会)(做到|克服|处理好|找到|度过)",
        r"你有(能力|力量)",
    ),
    # being there, support, company
    "emotional-support": (
        r"我(会)?(一直)?(在这里|陪(着|伴)?你|支持你)", r"陪伴", r"随时(都)?(可以)?(来)?(找我|和我|跟我)",
        r"(你|您)并不孤单", r"给你(一个)?(拥抱|力量|支持)",
    ),
    # explaining what may be going on
    "interpretation": (
        r"可能是因为", r"(这|那)(是|可能是)因为", r"这(说明|意味着|表明)", r"往往", r"通常(来说)?",
        r"(这种|这样的)(情况|感受|情绪|反应)(很|是|也)?(常见|正常|普遍)",
    ),
}

#: ChatGPT's template the paper criticises: an apology or a lead-in, then numbered suggestions
ADVICE_LEAD = re.compile(r"(以下是|下面是|这里有)[^。]{0,12}(建议|方法|方式|技巧)|一些建议[：:]")
NUMBERED = re.compile(r"(?:^|\n|[：:。；;]\s*)\s*(?:\d{1,2}|[一二三四五六七八九十])\s*[\.、．\)）:：]")
QUESTION = re.compile(r"[？?]")

_COMPILED = {k: re.compile("|".join(f"(?:{p})" for p in v)) for k, v in LEXICON.items()}
#: the keys :func:`rates` returns, in order
KEYS = (*LEXICON, "question-rate", "advice-list")


def is_advice_list(reply: str) -> bool:
    """A reply that lists suggestions: a "以下是…建议" lead-in, or at least two numbered items."""
    return bool(ADVICE_LEAD.search(reply)) or len(NUMBERED.findall(reply)) >= 2


def indicators(reply: str) -> list[float]:
    """1.0/0.0 per :data:`KEYS` for one reply."""
    out = [1.0 if rx.search(reply) else 0.0 for rx in _COMPILED.values()]
    out.append(1.0 if QUESTION.search(reply) else 0.0)
    out.append(1.0 if is_advice_list(reply) else 0.0)
    return out
