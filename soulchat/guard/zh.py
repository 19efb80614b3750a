"""Chinese rules of the ``crisis`` guard (decisions and examples: docs/guard.md).

The suicide rules compose the concept sets of :mod:`.zh_words` (a desire marker, a short gap, a
concept of death or a method; a place with a crisis cue; a tool with a readiness word; a farewell);
self-harm, harm to others and abuse are in :mod:`.zh_harm`. Idioms are blanked first.
"""

from __future__ import annotations

import re

from soulchat.guard.engine import Lexicon, Rule, alt
from soulchat.guard.zh_harm import ABUSE, HARM_OTHERS, SELF_HARM, SELF_HARM_NOUN
from soulchat.guard.zh_words import AT_PLACE, DEATH, DESIRE, FINAL, GAP, METHOD, PASSIVE, PLACE, PLACE_CUE, POISON, READY, TOOL

C = re.compile

# X死了 as "extremely X": 累死了, 笑死我了, 难受死了; 想死你了 "miss you so much"
_HYPERBOLE = alt("累 饿 热 冷 困 烦 气 笑 吓 忙 渴 撑 痛 疼 难受 丑 美 帅 可爱 羡慕 嫉妒 馋 急 憋 闷 晒 闲 无聊 尴尬 麻烦 "
                 "紧张 担心 心疼 开心 高兴 乐 爽 香 甜 辣 咸 酸 苦 吵 挤 堵 懒 穷 恶心 郁闷 丢人 后悔 讨厌 折腾 愁 "
                 "烦人 气人 累人 吓人 笑人 痒 晕 胀 慌 卷 蠢 傻 丑".split())
_MASKS = [
    rf"(?<!自己){_HYPERBOLE}(?:得|的)?(?:要|快|半)?死(?:了|我了|人了|啦|啊|呀|哦|我|人|掉了)?(?!我?自己)",
    r"想死(?:你|您|你们|我|我们|他|她|他们|大家|宝宝|宝贝|妈妈|爸爸|姐姐|哥哥)(?:了|啦|呀|啊)",
    r"(?:我|也)?要死了(?![,，]?(?:我想|想))",  # 我要死了 as an exclamation (作业好多我要死了)
    r"死(?:机|循环|板|心眼|心|党|忠|磕|守|记硬背|胡同|缠烂打|皮赖脸|活|对头|角|线|定了|翘翘|去活来|里逃生|性不改|气沉沉)",
    r"(?:要死不活|半死不活|拼死|该死|找死|吓了个半死|个半死|生死|死亡率|不死心|打死我?也不|打死都不)",
    r"笑.{0,4}(?:不活了|不想活)|(?:美|帅|可爱|好看)得?(?:不想活|不活了)",
    r"得(?:要|快)死(?:了)?|自杀式|跳楼(?:价|大甩卖|甩卖)",
    r"杀(?:青|价|时间|毒|虫|菌|鸡|鱼|猪|熟|球|手锏|伤力|气|疯了|进|马特)|(?:秒|狼人|剧本|三国|扼|抹|封|击|追|大)杀",
    r"割(?:韭菜|草|麦|肉|爱)",
    r"打我?(?:的)?(?:电话|手机|主意|小报告|游戏|微信|语音|视频|qq)|打给我|踢我出|掐我一下|(?:不是|等于|这是|相当于)在?打我的?脸",
    r"(?:叫|让|骂|咒)我去死",
    r"(?:隐私|权益|权利|利益|版权|肖像权)被侵犯",
    r"踢出(?:群|局|队|去)",
    # fear of dying is death anxiety, not a wish (害怕睡着再也醒不来); 怕我会做傻事 is a risk and is kept
    r"(?:害怕|恐惧|怕|担心)(?!我会|自己会|我忍不住|自己忍不住)[^,，。!！?？]{0,10}?(?:死|醒不来|醒不过来|离开这个世界)",
    r"(?:恨不得|真想|真该|想)(?:狠狠)?(?:地)?(?:打|扇|抽)(?:自己)?(?:一|两|几)(?:个|下)?(?:巴掌|耳光|嘴巴)",
]

_METHOD = [
    r"(?:怎么|怎样|如何)(?:样)?(?:才能|可以|才可以|能)?(?:自杀|死|割腕|上吊|跳楼|轻生|结束生命)",
    r"(?:自杀|死)(?:最|比较|才)?(?:不痛|无痛|快|有效|干脆)的?(?:方法|方式|办法)",
]
_LETHAL = [
    r"(?:多少|几)(?:片|粒|颗|克|毫克|瓶|盒)?.{0,8}(?:安眠药|药|农药|百草枯|褪黑素|酒|敌敌畏|老鼠药).{0,6}(?:会死|能死|致死|死得了|死人|致命)",
    r"致死(?:量|剂量)", r"(?:几|多少)楼.{0,4}(?:跳|摔).{0,4}(?:死|致命)",
]
_PLAN_PHRASES = [  # acts and phrases the compositional plans below do not cover
    r"(?:买|准备|找)好?了?(?:木炭|炭|农药|百草枯|绳子|安眠药).{0,6}(?:死|自杀|结束|走)",
    r"吃了(?:一整?瓶|一把|好多|很多|几十片|所有的?|全部的?)(?:的)?(?:安眠药|药|褪黑素)", r"把(?:安眠药|药).{0,4}(?:全|都)吃了",
    r"(?:准备好?|决定|要)离开了?.{0,12}(?:再见|告别|道别)|(?:跟|和)你们?(?:说)?(?:声|一声)?永别|最后一次(?:跟|和)你",
    r"(?:河边|江边|海边|湖边|桥上|水边).{0,10}走(?:下去|进去|进水里|进河里|进海里)",
    r"(?:吃|吞|喝)了(?:很多|好多|一把|一瓶|一整瓶|大量|所有的?|全部的?|几十片)(?:的)?(?:药|安眠药|农药|褪黑素|止痛药)",
    r"(?:安眠药|药)(?:都|全)?(?:倒|拿)出来了?",
    r"(?:准备|买)好?了?(?:一瓶|一包|一袋)?(?:农药|百草枯|木炭|炭|老鼠药)",
    r"(?:吃|吞)(?:掉|下|了)?(?:所有|全部|一整瓶|一瓶|半瓶|一把|很多|好多)的?(?:药|安眠药|褪黑素|止痛药)",
    r"(?:差点|差一点)(?:就)?.{0,8}(?:跳下去|跳了下去|自杀|割腕|吞药|上吊)",
]
# compositional plans: a place with a crisis cue, a tool made ready, a method looked up, a farewell
_PLAN = [
    rf"{AT_PLACE}{PLACE}[^。!！?？]{{0,12}}?{PLACE_CUE}", rf"已经(?:在|到了?|站在|坐在|爬上)?{PLACE}(?:上|边)?了",
    rf"{TOOL}[^,，。!！?？]{{0,4}}?(?:我)?(?:都|已经|全)?{READY}", rf"{READY}了?(?:的)?(?:一根|一瓶|一包|一袋|一把)?{TOOL}",
    rf"{READY}了?(?:怎么|在哪|哪天|什么时候|用什么).{{0,4}}(?:死|走|结束|自杀|跳|了断)",
    r"(?:死|自杀|轻生|了断|结束生命)的?(?:方法|方式|办法|地方|日子|时间).{0,6}" + READY,
    rf"(?:查|搜|搜索|研究|百度|问)(?:了|过)?(?:一下)?.{{0,4}}(?:怎么|怎样|如何|哪种|什么)[^,，。]{{0,4}}{METHOD}",
    rf"攒(?:了|下|够|着)?(?:很多|好多|一些|一瓶|几十片|一堆)?的?{POISON}(?!钱)", rf"{POISON}.{{0,4}}攒(?:够|了|好)", FINAL,
] + _PLAN_PHRASES
# a strong concept may sit further from its marker (我想明天早上从家附近的大桥跳下去)
_STRONG = alt([METHOD, r"自杀", r"轻生", r"自我了断", r"了结", r"结束(?:这|我|自己)?的?.{0,4}(?:一生|生命|人生|性命)",
               r"结束(?:这)?一切", r"结束自己", r"一死了之", r"跳下去"])


def _rules() -> tuple:
    rules = [Rule("abuse", code, C(p), person=person, tense="past") for p, code, person in ABUSE]
    rules += [Rule("suicide", "method", C(p), person="any", tense="none", negatable=False) for p in _LETHAL]
    rules += [Rule("suicide", "plan", C(p)) for p in _PLAN]
    rules += [Rule("suicide", "intent", C(rf"{DESIRE}(?:要|去|着|就|就这样|这样)?{GAP}(?:{DEATH}|{METHOD})"))]
    rules += [Rule("suicide", "intent", C(rf"{DESIRE}[^,，。!！?？]{{0,8}}?{_STRONG}"))]
    rules += [Rule("suicide", "intent", C(rf"要(?:就这样|这样)?去{GAP}死(?:掉|了|去)?(?![你您他她大家宝])"))]
    rules += [Rule("suicide", "passive", C(p)) for p in PASSIVE]
    rules += [Rule("suicide", "method", C(p)) for p in _METHOD]
    rules += [Rule("suicide", "intent", C(r"(?:自杀|轻生|寻死)(?:的)?(?:念头|想法|冲动|计划)?|去死|烧炭(?!取暖|烤)|上吊|卧轨"),
                   person="explicit")]
    rules += [Rule("self_harm", "act", C(p)) for p in SELF_HARM]
    rules += [Rule("self_harm", "act", C(p), person="explicit" if i else "self") for i, p in enumerate(SELF_HARM_NOUN)]
    rules += [Rule("harm_others", "intent", C(p)) for p in HARM_OTHERS]
    return tuple(rules)


_OTHER = alt("他 她 它 他们 她们 ta 弟 妹 哥 姐 朋友 同学 同事 室友 舍友 闺蜜 哥们 兄弟 姐妹 哥哥 姐姐 弟弟 妹妹 爸爸 妈妈 爸 妈 父亲 母亲 "
             "老公 老婆 丈夫 妻子 男朋友 女朋友 男友 女友 对象 孩子 儿子 女儿 邻居 亲戚 表哥 表姐 表弟 表妹 堂哥 堂姐 舅舅 叔叔 "
             "阿姨 奶奶 爷爷 外婆 外公 老师 学生 领导 老板 网友 有人 别人 人家 某人 那个人 这个人 明星 歌手 演员 主角 角色 "
             "作者 患者 病人 让人 使人 令人 人们 有些人 来访者 咨询者 求助者 当事人 客户 新闻 报道 电影 电视剧 小说 纪录片 热搜 文章 书里 剧里 游戏 你 您 你们 大家 谁 一些人 很多人 有的人 "
             "网上 视频".split())
# a past frame: a time back then (小时候, 十年前, 高三那年, 产后那半年) or a verb of experience (试过, 割过, 有过)
_PAST = (r"(?:\d+|[一二三四五六七八九十几]+)岁(?:的)?(?:时候|那年)|(?:\d+|[一二两三四五六七八九十几]+|好几)年前|以前|之前|曾经|过去|那时候?|当时|"
         r"小时候|小的时候|童年|年轻的时候|上学的时候|读书的时候|(?:高中|初中|小学|大学|国中|國中|国小|中学)(?:的)?时候?|几年前|前几年|前些年|"
         r"那段时间|那段日子|那几年|那会儿?|那阵子|有(?:一)?段时间|年轻时|当年|去年|前年|那一?年|那半年|那几个月|(?:高|初|大)[一二三四](?:那年|的时候)|"
         r"产后|孕期|青春期|(?:试|想|自杀|割|划|写|有|做|吃|跳|报复)过")
# a sign that it is over: better now, got through it, looking back, years without it, let go
_N = r"(?:\d+|[一二两三四五六七八九十几]+|好几|很多|好多)"
_RESOLVED = (r"现在.{0,4}(?:很好|挺好|好多了|不错|好起来)|现在(?:已经|都|也)?(?:好|没事|不会|不再|走出来|挺过来|过得|想起来|回想|找到|有了|很好|挺好|开心)|"
             r"现在[^。!！?？]{0,12}?(?:过得(?:挺|很|还|也)?(?:好|不错)|很?平静|稳定|放下|正常|幸福|不那样)|"
             r"后来(?:慢慢|也)?(?:好|走出来)|后来[^。!！?？]{0,12}?(?:好了|好起来|好多了|走出来)|慢慢(?:地)?(?:就)?(?:好|走出来|恢复)|"
             r"已经.{0,4}没(?:有)?(?:这样|再)|已经(?:走出来|好了|过去了|不会|没事|康复|痊愈)|好多了|走出来了|(?:撑|熬|挺|走)(?:了)?过来了?|"
             r"不再(?:那样|想)|康复|痊愈|(?:都|早就|早都|早已)过去了|已经没有了|早(?:就|已|都)(?:好了|好|放下|不那样|不会|没有?|走出来)|放下了|"
             r"回头看|回过头看|回想起来|庆幸|幸好|幸亏|"
             rf"(?:很久|好久|{_N}(?:个)?(?:年|个月))多?(?:都)?没(?:有)?再?")
# a generic person as the subject of a question about the topic (为什么抑郁的人会想死)
_GENERIC = r"的人(?=(?:会|都|为什么|一般|往往|通常|容易|常常|总是|是不是|真的会))"

LEXICON = Lexicon(
    masks=C("|".join(_MASKS)),
    rules=_rules(),
    first=C(r"我|俺|本人|咱|人家我"),
    other=C(_OTHER + "|" + _GENERIC),
    report=C(r"说|讲|告诉|表示|提到|发消息|留言|发朋友圈|写道|喊着"),
    negation=C(r"(?:不会|不至于|不可能|没有?|从没有?|从来没有?|从来不|并没有?|并不|不是|不打算|绝不|绝对不|不再|再也不|"
               r"(?<![特分区级类告性个])别|(?<!要)不要|不|没想过|没(?:有)?(?:动|起|产生)过?)(?:会|想|要|去|再|过|打算){0,2}$"),
    described=C(r"[^,，。!！?？]{0,4}的(?:人|朋友|孩子|学生|来访者|患者|病人|同学|家人)"),
    past=C(_PAST),
    resolved=C(_RESOLVED),
    object_of=C(r"(?:恨|爱|打|骂|见|找|给|对|跟|和|与|把|被|让|叫|帮|陪|离开|失去|想念|喜欢|讨厌|怕|嫁给|娶|欠|伤害|原谅|对不起|(?<![现正实存所好还])在)$"),
    ongoing=C(r"现在(?:还|又|仍|依然|也还|每天|经常|天天)|至今|到现在|还在|还是会(?!梦|想起|回想)|还会(?!梦|想起|回想)|又开始|又想|又有|最近|这几天|这段时间|这阵子|今天|今晚|昨天|昨晚|刚才|刚刚|一直到现在"),
)
