"""The ``chat`` section: what ``soulchat chat`` / ``soulchat serve`` load and what they tell the user."""

from dataclasses import dataclass
from typing import Any, Optional

#: Told to every user before the first message (the paper's ethics statement asks for it).
DISCLOSURE = ("提示：您正在与人工智能（AI）对话，回答由模型自动生成，可能有误，不能代替专业心理咨询或医疗帮助。"
              "如果您有伤害自己或他人的想法，请立即联系身边的人、当地急救电话或心理危机干预热线：{hotlines}。")


def disclosure_text(text: str, hotlines: Any) -> str:
    """``text`` with ``{hotlines}`` filled in, so the numbers are shown before the first message
    whether or not the guard ever recognises a crisis (its recall is far from perfect: docs/guard.md)."""
    return text.replace("{hotlines}", "；".join(str(h) for h in hotlines))


def shown_disclosure(cfg: Any) -> str:
    """The disclosure a composed config shows: ``chat.disclosure`` with the guard's hotlines (the
    default ones where the guard has none)."""
    from soulchat.guard.components import HOTLINES

    return disclosure_text(str(cfg.chat.disclosure), cfg.guard.get("hotlines") or HOTLINES)


@dataclass
class ChatConfig:
    """``soulchat chat [MODEL] [key=value ...]`` and the model ``soulchat serve`` serves (docs/serve.md).

    Sampling is ``generate.*`` (the paper's top-p 0.75, temperature 0.95); inputs are encoded exactly
    as in training, with the input budget saved beside the model.
    """

    model: Optional[str] = None  # a trained folder (hf/ or its train folder) or an MLflow run id; None: the latest run's
    disclosure: str = DISCLOSURE  # shown before the conversation (terminal, web page); {hotlines}: the guard's
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:1 ...
    dtype: str = "auto"  # auto (bf16 on a GPU that has it, else fp32) | float32 | bfloat16 | float16
