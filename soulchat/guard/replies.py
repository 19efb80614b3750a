"""Rules for the model's replies (category ``unsafe_reply``), composed from concept sets: validating
or romanticising the act (an act of ending life with relief, a right or respect), agreeing that the
person is a burden or life pointless, methods, places and hiding, discouraging help, telling a
victim to endure, urging revenge. A reply that names suicide to ask about it or points to help
(``你是不是有想过结束自己的生命？``, ``请拨打热线``) is safe; a contrast right after (但, 不过) marks
a view the reply goes on to answer."""

from __future__ import annotations

import re

from soulchat.guard.engine import Lexicon, Rule, alt

C = re.compile
_NONE = C(r"(?!x)x")  # matches nothing: replies are screened whoever their subject is

# ending one's life as a reply names it (离开 only without an object: 离开他 is leaving an abuser)
_ACT = alt([r"死亡?", "自杀", "轻生", r"结束(?:自己的|你的)?(?:生命|一切|这一切)", r"结束(?![^,，。]{0,2}(?:工作|关系|这段|恋爱|婚姻))",
            r"离开(?:这个世界|人世)?(?![他她那这工公学家这一])", r"走了?(?![路出进开向到过])", "不活了?", "了断", "伤害自己", "自残", "割腕", "跳下去",
            "ending it", "end it", "not being here"])
# a view the reply then answers (有些人觉得死了就解脱了，但…)
_NO_CONTRAST = r"(?![^。!！?？]{0,14}(?:但|可是|不过|然而|其实并|\bbut\b))"
# who is told to keep it secret, and the verbs of being found out
_WHO = r"(?:家人|家里人|父母|爸妈|爸爸|妈妈|别人|任何人|老师|同学|人|医生|朋友)"
_HELP = r"(?:医生|心理医生|精神科|咨询师|心理咨询|咨询|治疗|吃药|药物|抗抑郁药|热线|医院|报警|警察|求助)"
_HARM = r"(?:报复|教训|收拾|揍|打|毁了|堵|砸|弄死|杀了|捅|整)"
_VICTIM_HIT = r"(?:打|动手|家暴|施暴|打骂)"

_ZH = [
    # the act as relief, a choice, a right: 离开也许真的是一种解脱, 结束也是一种解脱
    ("encourage", rf"{_ACT}(?:[^,，。!！?？]{{0,6}}?)(?:也许|或许|可能|真的|确实|其实|反而|倒|也)*(?:是|算是|不失为|会是)(?:一种|一个|你的|最好的)?(?:解脱|出路|答案|勇敢|权利|自由|休息|轻松|归宿|(?:正确|最好)的选择)" + _NO_CONTRAST),
    # respecting or supporting the decision to die: 我尊重你结束生命的决定
    ("encourage", rf"(?:尊重|支持|接受|成全)(?:你)?(?:的)?[^,，。!！?？]{{0,8}}?{_ACT}[^,，。]{{0,3}}(?:决定|选择|想法|权利|打算)"),
    # a decision to die taken as settled: 如果你已经决定了，(找个…/按你想的去做吧/我尊重…)
    ("encourage", r"(?:如果|既然|要是|假如)你(?:真的|已经|真|都)*(?:决定|想好|计划好|打算好|下定决心)了[,，]"
                  r"(?![^。!！?？]{0,8}(?:但|可是|不过|我还是|还是希望|请|能不能|先别|我希望|也请|我们|我想|就先))"),
    ("encourage", r"(?:按|照)你(?:自己)?(?:想|计划)的(?:去)?做吧|一路走好|随心就好"),
    # permission: 想划就划吧, 不想活就不活吧
    ("encourage", r"想(?:划|割|死|走|离开)就(?:划|割|死|走|离开)|不想活(?:了)?就(?:别|不)活"),
    # self-harm as a fine way to cope: 自残是你释放压力的方式, 伤害一下自己也没什么大不了
    ("encourage", r"(?:自残|伤害(?:一下)?自己|划自己|割自己)(?:是|也是|算是)?(?:你)?(?:一种)?(?:释放|发泄|缓解|应对|解压)(?:压力|情绪)?的?(?:方式|办法|途径)" + _NO_CONTRAST),
    ("encourage", r"(?:自残|伤害(?:一下)?自己|划自己|割自己)(?:也)?没(?:什么)?(?:大不了|关系|不可以)|疼一下心里(?:会|就)舒服"),
    # romanticising death: 死亡其实很安静, 另一个世界会更温柔, 死了就什么烦恼都没有了
    ("encourage", r"死(?:亡|了)?(?:其实|本来|也)?(?:很|是|就像)?(?:安静|平静|美好?|浪漫|温柔|安宁|永恒|睡着了?一样|没什么可怕)" + _NO_CONTRAST),
    ("encourage", r"另一个世界.{0,8}(?:更好|温柔|没有痛苦|幸福|会好)|死了(?:就)?(?:什么)?(?:烦恼|痛苦)(?:都)?(?:没有了|没了)" + _NO_CONTRAST),
    # agreeing the person is a burden: 没有你他们会过得更轻松, 你家人确实不在乎你
    ("encourage", r"(?:没有你|没了你|你(?:要是|如果|一旦)?(?:不在了?|消失了?|走了))[^。!！?？]{0,12}(?:更轻松|更好|好过|轻松|不会难过|不会在意|无所谓|少操(?:点)?心|解脱|(?:负担|压力)(?:也)?(?:会)?(?:小|轻))"),
    ("encourage", r"(?:家人|家里人|父母|爸妈|他们|大家|别人|身边的人)(?:确实|真的|也许|可能|其实|早就)+(?:不在乎你|不需要你|受够了你?)|(?<!觉得)(?<!以为)没人在乎你" + _NO_CONTRAST + r"|(?:确实|的确).{0,4}拖累"),
    ("encourage", r"(?:人生|生活|日子|未来|你的未来)(?:本来就|确实|的确|真的|也确实)(?:是)?(?:挺|很)?(?:没|没有|很难有)(?:什么)?(?:意义|意思|盼头|希望|改变)|确实(?:没有|没)盼头"),
    # discouraging help: 医生帮不了你, 别告诉父母, 不要吃医生开的药, 别报警
    ("discourage", rf"(?<!如果)(?<!要是){_HELP}(?:都|也|根本|其实|就是|就|只是)?(?:帮不了|帮不到|没用|没什么用|是骗钱|骗钱|浪费钱|浪费时间|不管用|没有用|改变不了)(?![^。]{{0,6}}(?:换|商量|调整|再试|不代表))"),
    ("discourage", rf"(?:别|不要|千万别|千万不要|不用|没必要)(?:告诉|跟|和|对|让)(?:你的?)?{_WHO}(?:说|讲|知道|提)?(?:你的想法|这件事|这些)?"),
    ("discourage", r"(?:别|不要|不用|没必要)(?:去)?(?:看|找)(?:医生|心理医生|精神科|咨询师)|(?:别|不要)(?:去)?(?:医院|报警)|(?:别|不要|不用)(?:再)?(?:吃|服)(?:医生开的|抗抑郁的?)?(?:药|抗抑郁药)(?:了)?(?![^。]{0,4}(?:太多|过量|加量))"),
    ("discourage", r"没(?:有)?(?:人|谁)(?:能|可以|会)(?:真正)?(?:帮到|帮得了|帮)你|只能靠你自己"),
    # telling a victim to endure: 为了孩子忍着, 他动手也是因为太在乎你, 家丑不可外扬
    ("endure", rf"{_VICTIM_HIT}[^。!！?？]{{0,20}}?(?<!需要)(?<!不用)(?<!不必)(?<!别)(?<!不要)(?:忍一忍|忍忍|忍着|忍下去|忍一下|别报警|不要报警|家丑不可外扬)"),
    ("endure", rf"{_VICTIM_HIT}[^。!！?？]{{0,8}}(?:也是|是)因为(?:太)?(?:爱|在乎|关心)你|{_VICTIM_HIT}你[^。]{{0,6}}(?<!不)(?:是你|因为你)(?:哪里)?(?:做得不好|不对|的错|不够好|活该)"),
    ("endure", r"为了孩子(?:你)?(?:就|还是)?(?:忍|忍着|忍一忍|忍下去)|家丑不可外扬"),
    # urging revenge or violence: 去狠狠教训他一顿吧, 报复回去也是应该的, 下手重一点
    ("violence", rf"(?:去|就去|就该|应该|可以|不妨|干脆|一定要|必须)(?:找机会)?(?:狠狠|好好)?(?:地)?{_HARM}(?:回去)?(?:他|她|他们|她们|对方|那个人|回去)"),
    ("violence", rf"(?:去|就去|就该|应该|可以|不妨|干脆|一定要|必须)把(?:他|她|他们|她们|对方|那个人)(?:狠狠|好好)?(?:地)?{_HARM}"),
    ("violence", r"(?:报复|教训|以牙还牙|还手|打回去)(?:回去|他|她)?(?:也|都)?(?:是)?(?:应该的|应当的|没错|没毛病|天经地义|合理的)|以牙还牙|付出血的代价|尝尝被.{0,4}的滋味"),
    ("violence", r"下手(?:再)?重一点|(?:就得|就该|必须)(?:打|揍)|打到(?:他|她)怕|(?:打|揍)(?:一顿)?(?:孩子)?.{0,4}才(?:能|会)长记性"),
    # methods, places and hiding: 药和酒一起吃, 药一次全部吃完, 门窗封好, 避开别人能看到的地方, 别让家人发现
    ("method", r"(?:把)?(?:安眠药|药)(?:和|加|混着?|配着?|就着)(?:酒|白酒|啤酒)(?:一起)?(?:吃|喝|服|吞)|药.{0,4}一次(?:性)?(?:全部|全|都)?(?:吃完|吞下|吃掉|吃光)|攒够(?:剂)?量"),
    ("method", r"(?:门窗|窗户|门|窗)(?:缝)?(?:都)?(?:封好|封死|封上|关严|堵上|堵好|反锁)"),
    ("method", rf"(?:避开|躲开)(?:别人|人)?能?看(?:到|见)的地方|(?:划|割|伤口)[^。]{{0,8}}(?:大腿内侧|看不到的地方|看不见的地方|看不出来)|(?<!不要)(?<!别)(?<!不用)瞒着{_WHO}"),
    ("method", rf"(?:别|不要|不会)让{_WHO}(?:发现|看到|看见|知道)(?:就行|就好|就可以)|(?:不容易|不会)被(?:人|别人|家人)?(?:发现|拦下?来?)|伤口藏好|(?:穿|戴)(?:长袖|长裤|护腕).{{0,6}}(?:遮|看不出|不会被|就不会)"),
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
    ("encourage", r"\b(?:ending it|end it|dying|death|suicide|cutting|self[- ]harm)\b.{0,20}\b(?:is|would be|could be) (?:the right choice|your right|a valid way|peace|relief|the answer)\b"),
    ("encourage", r"\b(?:that'?s|it'?s) your (?:right|choice)\b.{0,30}\b(?:stop you|end it)|\bnobody (?:gets to|can) stop you\b|\brespect whatever you decide\b"),
    ("encourage", r"\b(?:better off without you|(?:don'?t|doesn'?t) (?:really )?care about you)\b"),
    ("discourage", r"\b(?:therapists?|doctors?|therapy|hotlines?|meds|medication) (?:can'?t|won'?t|don'?t) (?:really )?help\b|\bdon'?t tell (?:your|anyone|any)\b"),
    ("method", r"\b(?:keep it|keep them) (?:somewhere )?hidden\b|\blong sleeves\b.{0,30}\b(?:notice|see)|\bmix\w* (?:the )?(?:pills|meds) with\b|\bnobody'?s home\b"),
    ("violence", r"\bmake (?:him|her|them) pay\b|\bdeserves? to (?:get hurt|suffer|be hurt)\b"),
    ("endure", r"\bput up with it\b.{0,40}\bhitting\b"),
    ("encourage", r"\b(?:suicide|death) (?:is|would be) (?:a|the|your)? ?(?:way out|answer|solution|relief)\b"),
    ("violence", r"\byou (?:should|could) (?:kill|hurt|stab|beat|poison) (?:him|her|them)\b"),
    ("method", r"\blethal dose\b|\b\d+ ?(?:mg|pills|tablets|grams)\b.{0,30}\b(?:lethal|fatal|kill|enough to die)\b|\b(?:best|easiest|painless|quickest) way to (?:die|kill yourself)\b"),
]
_NEG = C(r"(?:不|别|不要|不能|不应该|不可以|并不|不是|绝不|不需要|不用|不必|没有义务|没必要|不代表|并不是|never|not|don'?t|shouldn'?t)\s?$")


def _lexicon(rules: list) -> Lexicon:
    return Lexicon(masks=_NONE, rules=tuple(Rule("unsafe_reply", code, C(p), person="any", tense="none")
                                            for code, p in rules),
                   first=_NONE, other=_NONE, report=_NONE, negation=_NEG, past=_NONE, resolved=_NONE, ongoing=_NONE)


# what an unsafe reply is about: death, harm, methods, help, violence, burden, a decision; the learned
# reply screen scores only a reply that names one (a fragment such as 都会在这里支持你 has too few
# n-grams to score: the screen's bias and a few common ones decide it)
TOPIC = C(r"死|杀|自残|自尽|轻生|结束|离开|走|消失|解脱|伤|划|割|刀|血|疤|药|酒|跳|楼|桥|绳|炭|打|揍|报复|教训|收拾|毁|堵|砸|"
          r"忍|负担|拖累|累赘|在乎|意义|意思|盼头|希望|决定|选择|尊重|权利|自由|想好|计划|拦|医生|咨询|治疗|热线|医院|报警|警察|"
          r"告诉|发现|瞒|藏|看到|看不|世界|活|命|一切|"
          r"\b(?:die|death|dead|kill\w*|suicid\w*|end(?:ing)? it|cut\w*|hurt\w*|harm|pills?|meds|alcohol|hid\w*|tell|therap\w*|"
          r"doctors?|right|choice|decide\w*|burden|better off|pay|hit\w*|peace|stop you)\b")

ZH = _lexicon(_ZH)
EN = _lexicon(_EN)
