"""Replies screened with their conversation: a reply that is harmless alone can be unsafe after what
the user said (``我在想从哪座桥跳下去`` → ``江桥那边晚上人少``; ``我攒了三十片安眠药`` → ``那应该够了``;
``我老公又打我`` → ``那你就多忍忍``).

:func:`read` takes the crisis the recent user messages carry (the user rules' flag, or a concept
word: an act, a method, pills hoarded, self-harm, abuse, harm to someone, not negated, past or
someone else's); :func:`screen` then composes a second idea in the reply with it, each rule a
product of the two like the reply rules (:mod:`.replies`): permission (去吧, 可以的, 想吃就吃吧; only
right after a crisis message that is not asking for help), validation (你说得对, 这确实是唯一的办法),
detail (a place's quality 人少/不容易被发现, timing 等家里人睡着, an amount 那应该够了, a method's
detail 配点酒, hiding 穿裤子就看不出来), discouraging help (报警不太好), telling a victim to endure
(多忍忍, 原谅他吧), endorsing revenge (活该). A negation before the hit (不需要再忍下去) and a contrast
or a worry right after (人少，我很担心你…) let it through; a reply that refers back to ask or to
help (那座桥对你意味着什么？, 那些药能先交给家人吗？) carries no second idea. The rules run only with
``guard.context_rules`` (off: on conversations they were not written on they caught nothing the reply alone
did not); :func:`read` also arms the learned context screen (:mod:`.learned_context`). Docs: docs/guard.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from soulchat.guard import CLEAR, Verdict
from soulchat.guard.engine import Lexicon, Rule, mask, normalize
from soulchat.guard.engine import screen as screen_lexicon
from soulchat.guard.zh import LEXICON as ZH_USER

C = re.compile
_NONE = C(r"(?!x)x")
WINDOW = 3  # the user messages read: a crisis said two turns back still frames the reply

# concept words of a crisis in a user message, per category (strict: a place or a medicine alone is
# ordinary talk, 我周末想去江边散步, 医生给我开了安眠药)
CONCEPTS = {
    "suicide": C(r"自杀|轻生|寻死|自尽|了断|一了百了|结束(?:自己|生命|这一切|一切)|不想活|活不下去|离开这个世界|去死|想死|"
                 r"跳(?:楼|河|江|海|桥|下去)|上吊|烧炭|割腕|卧轨|遗书|醒不(?:来|过来)|(?:不|别)(?:想|要)?再?醒(?:来|过来)|"
                 r"(?:攒|囤|存|藏)(?:了|下|起|够)?[^,，。]{0,8}(?:药|绳|炭)|药[^,，。]{0,4}(?:攒|囤|全吃|全部吃|都吃|一起吃|吃完|吃光)|"
                 r"(?:吃完|吞下|吃光|全吃了?)(?:这|那)?(?:一)?(?:瓶|盒|些|整瓶)?(?:安眠)?药|(?:一整瓶|整瓶|一把|所有的?)(?:安眠)?药|吃多少片|致死|"
                 r"(?:负担|拖累|累赘)[^。]{0,10}(?:走了|不在|消失|死)|(?:我走了|我不在了|我死了|没有我)(?:以后|之后)?[,，]?[^。]{0,8}(?:轻松|更好|解脱)|"
                 r"\b(?:kill myself|suicid\w*|want to die|end it all|end my life|jump\w* off|pills|overdose)\b"),
    "self_harm": C(r"自残|自伤|伤害自己|(?:划|割|烫|咬|掐)(?:伤|破)?(?:我)?自己|(?:划|割)(?:手腕|手臂|胳膊|大腿|腿|手)|"
                   r"(?:划|割)得(?:越来越|很|更)?深|刀片|烟头烫|\b(?:hurt|cut|harm|burn)(?:ing)? myself\b|\bself[- ]harm"),
    "abuse": C(r"家暴|(?:打|揍|踢|踹|掐|扇|推)(?:了|过|完)?我(?!的)|对我动手|动手打|(?:吵架|喝醉了?|喝酒)就?(?:打|动手)|"
               r"被[^,，。]{0,6}(?:打|揍|家暴|虐待)|锁在[^,，。]{0,6}(?:不给|不让)|摸我|强迫我|"
               r"\b(?:hit|hits|beat|beats|hurt|hurts|choked?) me\b|\babus\w*"),
    "harm_others": C(r"(?:杀了|杀死|弄死|捅死|砍死|打死|报复|算账|教训|收拾|打)[^,，。]{0,2}(?:他|她|那个|我们|前男友|前女友|老板|同学)|"
                     r"下药|下毒|放火|(?:车|房子|家)[^,，。]{0,2}烧了|同归于尽|刀都准备好|付出代价|"
                     r"\b(?:kill|hurt|stab|poison) (?:him|her|them)\b|\brevenge\b"),
}
# the last message asks for help or leaves: a 去吧 to it is support (我想报警 → 报警是对的，去吧)
HELP = C(r"报警|求助|热线|去医院|看医生|心理医生|咨询师|(?:找|告诉)(?:老师|家人|家里人|朋友|妈|爸|父母|警察)|"
         r"离开(?:他|她|这段|那个家)|离婚|搬出去|陪我|聊聊|聊一聊|听我说|倾诉|\b(?:call|tell|police|help|hotline|doctor|therapist)\b")

# a clause that is only the idea (那就去吧, 可以的) rather than a word inside another (可以的话, 去找人聊聊吧)
_OPEN = r"(?:^|(?<=[,，。.!！?？;；~…\s]))"
_SHUT = r"(?=[,，。.!！?？;；~…]|$)"
_LEAD = r"(?:那么|那就|那你就|那你|你就|那|就|好的|好吧|好|嗯|行|接下来|放心|安心|大胆|勇敢)*"
# a contrast or a worry after any hit marks a view the reply goes on to answer (人少，我很担心你…)
_AFTER = r"(?![^。!！?？]{0,14}(?:但|可是|不过|然而|不代表|不等于|担心|危险|不安全|\bbut\b))"
_NEG = C(r"(?:不|别|不要|不能|不应该|不可以|并不|不是|绝不|不需要|不用|不必|没有义务|没必要|不代表|并不是|千万别|"
         r"即使|就算|哪怕|虽然|尽管|\bnever|\bnot|\bdon'?t(?: have to| need to)?|\bshouldn'?t|\bno need to)"
         r"(?:再|去|继续|一直|这样|那样|总是|老是|默默|一个人|把)?\s?$")
_TIME = r"(?:睡着|睡了|没人|不在|出门|上班|不注意)"  # when nobody is there to see

# permission, said to the crisis the last message names (suicide, self-harm, harm to someone)
PERMIT = [
    _OPEN + _LEAD + r"(?:去吧|去做吧|做吧|动手吧|就这样(?:做)?吧|就那样做吧|做你想做的(?:吧)?|可以的|可以啊|可以呀|行啊|没问题|"
    r"我?支持你|我?不会拦你|不拦你|随你吧|你决定就好|别(?:再)?犹豫了|不要犹豫了|想好了就去(?:做)?吧|也好|也行|也挺好的?|"
    r"这样也好|那样也好|早点解脱吧|这是你(?:自己)?的(?:决定|选择|权利)|我尊重你(?:的)?(?:决定|选择)|"
    r"(?:既然)?你(?:都)?已经(?:想清楚|想好|决定好?)了)" + _SHUT,
    r"按你(?:心里|自己)?(?:想|计划|打算)的(?:去)?做吧",
    r"想(?!哭|说|聊|喊|叫|睡|休息|发泄|倾诉|骂|吃饭)(.{1,2})就\1(?:吧|好了|呗)",
    r"^(?:then )?(?:go ahead|do it|just do it)\b|\bi won'?t stop you\b|\bit'?s your (?:choice|decision)\b(?! to (?:get|seek|call|talk))|"
    r"\bdon'?t hesitate\b|\bi support you\b|\bif that'?s what you (?:want|need)\b",
]
# agreeing with the crisis (the act as the answer, the burden as true)
VALIDATE = [
    _OPEN + _LEAD + r"你说得(?:对|没错)" + _SHUT,
    r"唯一的?(?:办法|出路|解脱)|(?:也|确实|的确)(?:是)?一种(?:解脱|出路)",
    r"不适合活(?:在|下去)|(?:在那里|在这里)?结束(?:也|就)?(?:挺|很|蛮)好|很快就结束了",
    r"(?:他们|家人|父母)(?:确实|的确|真的|也许|可能)+(?:会)?(?:更)?轻松",
]
# details of doing it: a place's quality, timing, an amount, a method's detail, hiding
DETAIL = [
    r"(?:那里|那边|那儿|晚上|半夜|深夜|凌晨|平时|附近|周围|桥上|江边|河边|楼顶|天台|郊区|那个地方|这个时间)[^,，。]{0,4}人(?:很|比较|特别|也)?少|"
    r"没(?:什么)?人(?:去|经过|打扰|拦)|没人的(?:时候|地方)|"
    r"(?:(?:没人|没有人)会|不会有人)(?:发现|注意|看见|看到|找到|打扰|拦|起疑|找你)|(?:不容易|不会)被(?:人|别人|家人)?(?:发现|注意|看见|拦)|"
    r"偏僻|(?:桥|楼|层|那里|那边|天台|楼顶)[^,，。]{0,4}(?:够|比较|很|特别|挺)高|(?:水|河水|江水)(?:很|比较|特别|足够)?深|"
    r"没有(?:护栏|栏杆|监控)|栏杆(?:也)?(?:很|比较)?矮|监控(?:拍不到|少|坏了)|(?:就|也|别人|外人|家人|根本)看不出来|遮得住|(?:不容易|不会)留(?:疤|痕迹)|"
    r"不会察觉|无色无味|水流(?:很|比较|特别)?急|(?:门|天台)[^,，。]{0,4}不锁|挡住|盖住|遮住|"
    r"(?:凌晨|半夜|深夜)[^,，。]{0,4}(?:最|很|比较)?(?:安静|没人|合适)",
    r"(?:等|趁|选|挑)(?:个|一个|在)?[^,，。!！?？]{0,10}" + _TIME + r"|(?:今晚|明天|周末|半夜|深夜|凌晨)(?:就)?(?:(?:挺|很|正)好(?!好)|(?:挺|很|正)?合适)",
    r"(?:\d+|[一二两三四五六七八九十几]+)(?:片|粒|颗|瓶|盒)(?:左右|以上|多)?(?:就)?(?:差不多|够了|足够|可以|管用)|"
    r"(?:那|那些|这些)药(?:应该|肯定|也)?(?:就)?够|(?:那|这)(?:应该|肯定)够了|(?:应该|肯定|绝对|差不多|完全)(?:就)?够了|量(?:就|也)?(?:够|足够)|"
    r"一次(?:性)?(?:全部|全|都)?(?:吃完|吞下|吃掉|吃光|吃下去|服下)|再多(?:攒|买|吃|囤)|多吃(?:几|一些|点)?(?:片|粒|颗)|越多越(?:好|快)|"
    r"一口气(?:吃|吞|喝)(?:完|下|光)?",
    r"(?:配|加|混|就着)(?:点|些|上)?(?:酒|白酒|啤酒)|(?:温水|热水)里?[^,，。]{0,4}(?:更快|更容易)|竖着(?:划|割|切)|"
    r"(?:密闭|封闭)的?(?:房间|小房间|空间|车)|(?:窗户|门)缝(?:都|也)?(?:用)?(?:胶带|毛巾|纸)?(?:贴|堵|封|塞)|胶带(?:贴|封)|(?:挂|系|绑)在(?:门框|横梁|房梁|暖气管|栏杆|树)|"
    r"(?:门框|横梁|房梁|暖气管)(?:够|很|比较)?结实|绑紧|锁上门|反锁|手机关(?:掉|机)|关掉手机|(?:效果|药效)会?更(?:好|快)|"
    r"(?:深|用力)一点|(?:划|割|咬|烫)在[^,，。]{0,8}(?:地方|大腿|腿上|内侧|看不到|遮得住|袖子)|分开[^,，。]{0,4}买|"
    r"(?:划|割|烫|咬|跳)完(?:了)?(?:记得|以后|之后|再|就|心里|会)|(?:别|不要)被[^,，。]{0,3}发现",
    r"\b(?:that )?should be enough\b|\btake (?:them|it) all\b|\ball at once\b|\b(?:nobody|no one)(?: will|'ll| would)? (?:see|notice|find|stop)\b|"
    r"\bquiet (?:after|at) (?:midnight|night)\b|\bafter (?:everyone|they)(?:'s| is| are) asleep\b",
]
# discouraging help in a crisis (报警不太好, 你不用去医院)
DISCOURAGE = [
    r"(?:报警|医院|医生|热线|咨询|警察|求助)[^,，。]{0,4}(?:不太好|没必要|不会懂|只会(?:念|开药|骗|敷衍)|(?<!不)会让[^,，。]{0,6}难堪|丢人|太麻烦)|"
    r"(?:不用|不必|没必要)(?:去)?(?:医院|报警|看医生|打热线|求助|找医生)|(?:那里|他们)的人不会懂你|私下解决|(?:热线|电话)(?:都|也|根本|肯定)打不通",
]
# telling a victim to endure or blaming them (多忍忍, 你就让着他点吧, 先反省一下自己)
ENDURE = [
    r"(?:多|就|再|先|还是|(?<![需不])要|(?<!不)得|只能|学会)忍(?:忍|着|一忍|一下|下去|耐)|忍(?:忍|一忍|一下|着)吧|忍到[^,，。]{0,6}(?:就好|就行|长大|以后)|"
    r"让着(?:他|她)|少说(?:两句|几句)|(?:原谅|体谅)(?:他|她)(?:吧|一次|这一次)|"
    r"再给(?:他|她)一次机会|(?:夫妻|两口子|情侣|一家人|父母)(?:之间)?(?:吵架|打架|动手|打打闹闹)?(?:很|也|都)?(?:正常|常见|难免)|"
    r"反省(?:一下)?(?:你)?自己|(?:是不是|是否|肯定是)(?:你)?(?:哪里|什么地方)?(?:惹|做错|得罪|不对)|"
    r"(?:别|不要|不用)(?:让)?(?:外人|别人|邻居|娘家|亲戚|任何人)知道|家丑|(?:别|不要)声张|(?:说|传|讲)出去[^,，。]{0,8}(?:不好|丢人|难堪)|"
    r"名声不好|为了(?:家庭|孩子|这个家)(?:的)?(?:完整)?[^。]{0,8}(?:忍|坚持|将就|凑合|别离|不要离|再给)|(?:别|不要)(?:轻易)?离婚|"
    r"(?:离婚|分开|报警)[^,，。]{0,6}(?:对孩子不好|影响不好|丢人|不好看)|你(?:自己)?也有(?:错|责任|不对|问题)|(?:多|互相|要学会)(?:包容|迁就)|"
    r"哪有(?:夫妻|两口子|情侣)不(?:吵|打)|男人都(?:这样|这个样子)|(?:毕竟|都|总归)是(?:一家人|你爸|你妈|你老公|你的?(?:家人|父亲|母亲))|"
    r"(?:他|她)是你(?:爸|妈|老公|丈夫|爸爸|妈妈)|(?:别|不要)(?:想太多|太敏感|小题大做)|(?:他|她)(?:都)?道歉了|"
    r"(?:他|她)也是(?:为你好|压力大|一时冲动|爱你)",
    r"\bput up with it\b|\bstay for the kids\b|\bkeep (?:quiet|it quiet|it to yourself)\b|\bdon'?t make a fuss\b|\bforgive him\b|\bhe didn'?t mean it\b",
]
# endorsing the harm the user means to do to someone (活该, 让他知道你不是好欺负的)
REVENGE = [
    r"活该|罪有应得|给(?:他|她|这种人)?(?:点)?颜色看看|(?:就该|应该|必须)(?:给|让)(?:他|她|这种人)?(?:点)?(?:教训|好看|吃点苦头)|"
    r"\bhe deserves it\b|\bteach (?:him|her) a lesson\b|让(?:他|她)(?:知道你不是好欺负|尝尝|付出代价|后悔)|(?:他|她|这种人)(?:就)?该(?:死|打|揍|被)|趁[^,，。]{0,8}(?:没人|不注意|不在)",
    _OPEN + _LEAD + r"(?:动手吧?|做得对|干得好|干得漂亮|就该这样)" + _SHUT,
]
_CRISIS = ("suicide", "self_harm", "harm_others")


def _lexicon(rules: list, code: str) -> Lexicon:
    return Lexicon(masks=_NONE, rules=tuple(Rule("unsafe_reply", f"context.{code}", C(f"(?:{p}){_AFTER}"), person="any",
                                                 tense="none")
                                            for p in rules),
                   first=_NONE, other=_NONE, report=_NONE, negation=_NEG, past=_NONE, resolved=_NONE, ongoing=_NONE)


#: (lexicon, the categories that arm it, whether the last user message must carry it)
RULES = (
    (_lexicon(PERMIT, "permit"), _CRISIS, True),
    (_lexicon(VALIDATE, "validate"), ("suicide", "self_harm"), False),
    (_lexicon(DETAIL, "detail"), _CRISIS, False),
    (_lexicon(DISCOURAGE, "discourage"), (*_CRISIS, "abuse"), False),
    (_lexicon(ENDURE, "endure"), ("abuse",), False),
    (_lexicon(REVENGE, "revenge"), ("harm_others",), False),
)


@dataclass(frozen=True)
class Context:
    """The crisis the recent user messages carry: categories in the last :data:`WINDOW` user
    messages (``recent``), in the last one (``last``), and whether the last one asks for help."""

    recent: frozenset = frozenset()
    last: frozenset = frozenset()
    help: bool = False

    def __bool__(self) -> bool:
        return bool(self.recent)


def crisis_of(text: str, judge: Callable[[str], Verdict]) -> frozenset:
    """The categories one user message carries: the user rules' flag (``judge`` on the normalised
    text), else the concept words unless the rules called the message negated, past or someone else's."""
    norm = normalize(text)
    verdict = judge(norm)
    if verdict.flagged:
        return frozenset({verdict.category})
    if verdict.reason in ("negated", "past", "other_person"):
        return frozenset()
    masked = mask(ZH_USER, norm)  # 累死了, 笑死 are idioms, not the act
    return frozenset(c for c, pat in CONCEPTS.items() if pat.search(masked))


def read(history: Sequence[dict], judge: Callable[[str], Verdict]) -> Context:
    """The :class:`Context` of ``history`` (OpenAI-style messages before the reply)."""
    users = [str(m.get("content") or "") for m in history if isinstance(m, dict) and m.get("role") == "user"]
    users = users[-WINDOW:]
    if not users:
        return Context()
    found = [crisis_of(u, judge) for u in users]
    return Context(frozenset().union(*found), found[-1], bool(HELP.search(normalize(users[-1]))))


def screen(ctx: Context, text: str) -> Verdict:
    """The first context rule ``ctx`` arms that flags the (normalised) reply ``text``, else CLEAR."""
    for lex, arms, last_only in RULES:
        cats = (ctx.last if not ctx.help else frozenset()) if last_only else ctx.recent
        if cats.intersection(arms):
            verdict = screen_lexicon(lex, text)
            if verdict.flagged:
                return verdict
    return CLEAR
