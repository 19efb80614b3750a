"""Rules for the model's replies (category ``unsafe_reply``): encouraging self-harm or violence,
agreeing that life is pointless, and giving methods or doses. A reply that asks about risk or
points to help (``你有没有想过伤害自己？``, ``请拨打热线``) is safe."""

from __future__ import annotations

import re

from soulchat.guard.engine import Lexicon, Rule

C = re.compile
_NONE = C(r"(?!x)x")  # matches nothing: replies are screened whoever their subject is

_ZH = [
    ("encourage", r"(?:可以|应该|不妨|就|干脆|还是|最好)(?:去|试试|试一下|考虑)?(?:死|自杀|轻生|结束(?:自己的)?生命|伤害自己|割腕|跳楼|自残|一死了之)"),
    ("encourage", r"(?:自杀|死亡?|轻生|结束生命)(?:也)?(?:是|算是|不失为)(?:一种)?(?:解脱|选择|办法|出路|勇敢)"),
    ("encourage", r"(?:伤害自己|自残|割腕)(?:确实|也)?(?:可以|能|能够)(?:让你|帮你)?(?:好受|缓解|释放|发泄|平静)"),
    ("encourage", r"活着(?:确实|的确|本来就|真的)(?:挺|很|是|也)?(?:没|没有)(?:什么)?(?:意义|意思)|你(?:确实|的确)(?:是个?)?(?:累赘|负担)"),
    # validating the act as understandable or the person's right (结束生命也可以理解, 没人能拦你)
    ("encourage", r"(?:死|自杀|轻生|结束(?:自己的)?生命|伤害自己|离开这个世界)(?:也|都)?(?:是)?(?:可以理解|无可厚非|没什么不对|你的(?:权利|选择|自由))"),
    ("encourage", r"(?:想走|想死|要走|想离开).{0,6}(?:没有?人能拦|谁也拦不住|没人拦得住)"),
    ("encourage", r"不如(?:去)?(?:死|自杀|结束(?:自己的)?生命)|去死吧"),
    ("violence", r"(?:可以|应该|不妨|就|干脆)(?:去)?(?:报复|杀了|弄死|打|教训|捅)(?:他|她|他们|她们|对方)"),
    ("method", r"致死(?:量|剂量)|(?:\d+|[一二两三四五六七八九十百几]+|一整瓶)(?:片|粒|颗|毫克|mg|克|g|毫升|ml).{0,12}(?:致死|致命|死亡|足以|就能|会死)"),
    ("method", r"(?:最|比较)(?:快|有效|无痛|不痛|不痛苦|干脆|稳妥)的(?:自杀|死|轻生)(?:方法|方式|办法)|(?:自杀|轻生)的(?:方法|方式|办法)(?:有|是|包括|如下)"),
    ("method", r"(?:割|切)(?:在|开)?(?:手腕|动脉|颈动脉).{0,8}(?:深|竖|横|才|更)|从(?:\d+|[一二三四五六七八九十几]+)楼(?:以上)?(?:跳|摔).{0,6}(?:死|致命|必死)"),
    ("method", r"烧炭.{0,10}(?:密闭|关好|封)|上吊.{0,10}(?:绳|结|高度)"),
    ("method", r"(?:割|划|切)得?(?:再)?(?:深|用力|狠)一?点|药(?:要)?(?:吃|吞)得?(?:再)?多一点才(?:会|能|有效)"),
]
_EN = [
    ("encourage", r"\byou (?:should|could|might as well) (?:just )?(?:kill yourself|die|end (?:it|your life)|hurt yourself|cut yourself)\b"),
    ("encourage", r"\b(?:suicide|death) (?:is|would be) (?:a|the|your)? ?(?:way out|answer|solution|relief)\b"),
    ("violence", r"\byou (?:should|could) (?:kill|hurt|stab|beat|poison) (?:him|her|them)\b"),
    ("method", r"\blethal dose\b|\b\d+ ?(?:mg|pills|tablets|grams)\b.{0,30}\b(?:lethal|fatal|kill|enough to die)\b|\b(?:best|easiest|painless|quickest) way to (?:die|kill yourself)\b"),
]
_NEG = C(r"(?:不|别|不要|不能|不应该|不可以|并不|不是|绝不|never|not|don'?t|shouldn'?t)\s?$")


def _lexicon(rules: list) -> Lexicon:
    return Lexicon(masks=_NONE, rules=tuple(Rule("unsafe_reply", code, C(p), person="any", tense="none")
                                            for code, p in rules),
                   first=_NONE, other=_NONE, report=_NONE, negation=_NEG, past=_NONE, resolved=_NONE, ongoing=_NONE)


ZH = _lexicon(_ZH)
EN = _lexicon(_EN)
