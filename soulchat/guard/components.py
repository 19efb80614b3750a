"""Guard components: the ``guard`` family (``crisis``) and the ``guard`` metric set.

Schemas and factory strings only; nothing heavy is imported here.
"""

from dataclasses import dataclass, field

from soulchat.registry import ComponentConfig, Registry

# Hotline numbers change and differ by region: check them for the deployment region (docs/guard.md).
HOTLINES = [
    "全国统一心理援助热线：12356",
    "希望24热线（全国，24小时）：400-161-9995",
    "北京心理危机研究与干预中心（24小时）：010-82951332",
    "紧急情况请拨打 110（报警）或 120（急救）",
]

RESPONSE = (
    "听到你这样说，我很担心你，也谢谢你愿意告诉我。你现在的感受很重要，你不需要一个人扛着。"
    "请现在就联系一个你信任的人（家人、朋友、老师），让他们陪在你身边；"
    "也请拨打心理援助热线，和受过专业训练的人谈一谈：\n{hotlines}\n"
    "如果你已经在危险中，请立刻拨打 110 或 120，或去最近的医院急诊。"
    "我是一个 AI，不能代替专业的帮助，但我愿意继续听你说。"
)

RESPONSES = {
    "abuse": (
        "你经历的这些不是你的错，你不应该被这样对待。你的安全最重要："
        "如果你现在有危险，请立刻拨打 110 报警，或去安全的地方、找信任的人陪着你。"
        "全国妇联妇女维权公益服务热线 12338 也可以帮助你。想找人谈谈时，可以拨打：\n{hotlines}\n"
        "我是一个 AI，不能代替专业的帮助，但我愿意继续听你说。"
    ),
    "harm_others": (
        "听起来你现在非常愤怒、非常痛苦。请先离开让你冲动的地方，远离刀具等可能伤人的东西，"
        "找一个你信任的人陪着你。和受过专业训练的人谈一谈会有帮助：\n{hotlines}\n"
        "如果你担心自己控制不住，请立刻拨打 110 或 120。我是一个 AI，但我愿意继续听你说。"
    ),
}


# added to the model's reply when the learned screen has a concern the rules did not flag
NOTE = (
    "如果你正在经历很难熬的时刻，或者有过伤害自己的念头，请不要一个人扛着："
    "可以联系一个你信任的人，也可以拨打心理援助热线：\n{hotlines}\n我是一个 AI，不能代替专业的帮助。"
)


@dataclass
class CrisisGuardConfig(ComponentConfig):
    """Rules for suicide, self-harm, harm to others and abuse (Chinese, English) and unsafe replies."""

    enabled: bool = True  # false: every verdict is clear (the guard is off)
    screen_user: bool = True  # screen the user's messages
    screen_reply: bool = True  # screen the model's replies (category unsafe_reply)
    # the crisis answer; ``{hotlines}`` becomes the lines below, one per line
    response: str = RESPONSE
    # per-category answers replacing ``response`` (suicide, self_harm, harm_others, abuse, unsafe_reply)
    responses: dict = field(default_factory=lambda: dict(RESPONSES))
    hotlines: list = field(default_factory=lambda: list(HOTLINES))  # check them for your region
    log_events: bool = True  # log each flagged event (category, reason code; never the text)
    # the learned screen (soulchat/guard/learned.py): a user message the rules let through (seeing
    # nothing or only an idiom) with a score >= concern_threshold is a concern: the model answers and
    # ``note`` is added to its reply
    learned: bool = True
    concern_threshold: float = 0.5  # higher: fewer concerns, on crises and on ordinary talk (docs/guard.md)
    note: str = NOTE  # ``{hotlines}`` becomes the lines of ``hotlines``
    # a reply the reply rules let through with a learned reply score >= reply_threshold is flagged
    # (replaced by the crisis answer, reason unsafe_reply.learned); also needs ``learned``
    reply_threshold: float = 0.5
    # after a history whose last 3 user messages carry a crisis, a reply with a learned context score
    # >= context_threshold is flagged (unsafe_reply.context.learned; soulchat/guard/learned_context.py);
    # also needs ``learned``. 0.7: at most ~5% of safe replies flagged on the conversation set it was not
    # trained on (docs/guard.md, "Replies in their conversation")
    context_threshold: float = 0.7
    # the phrase rules of soulchat/guard/context.py too: off, as they caught no unsafe reply the reply
    # alone did not on the two conversation sets they were not written on, and flagged one more safe one
    context_rules: bool = False


@dataclass
class GuardMetricConfig(ComponentConfig):
    """Share (%) of model replies, and of test inputs when given, that a guard flags."""

    guard: str = "crisis"  # the guard component (its schema defaults) doing the screening


def register(registry: Registry) -> None:
    registry.add("guard", "crisis", CrisisGuardConfig, "soulchat.guard.crisis:build",
                 "crisis rules: suicide, self-harm, harm to others, abuse (zh, en) and unsafe replies")
    from soulchat.guard.llm import LLMGuardConfig  # here: llm.py builds its schema on CrisisGuardConfig

    registry.add("guard", "llm", LLMGuardConfig, "soulchat.guard.llm:build",
                 "an LLM (any OpenAI-compatible endpoint) screens beside the crisis rules; flagged if either flags")
    registry.add("metric_set", "guard", GuardMetricConfig, "soulchat.guard.metric:GuardRate",
                 "share of replies (guard-replies) and test inputs (guard-inputs) the crisis guard flags, with n")
