"""Rewrite-stage components: ``prompt`` variants (templates live in ``conf/prompt/``)."""

from dataclasses import dataclass

from soulchat.registry import ComponentConfig, Registry
from soulchat.rewrite.config import RewriteConfig


@dataclass
class PromptConfig(ComponentConfig):
    """A rewrite prompt: a template with ``{single_turn}`` and the constraints its answers must meet."""

    template: str = ""  # the whole user message; {single_turn} is replaced by the rendered Q&A
    single_turn: str = "用户：{question}\n心理咨询师：{answer}"  # one Q&A as the template's {single_turn}
    user_speaker: str = "用户"
    counsellor_speaker: str = "心理咨询师"
    min_utterances: int = 8  # one speaker's messages, not user+reply turns (see soulchat.rewrite.parse)
    max_utterances: int = 20
    rewrite: bool = True  # false: keep the single-turn pair as one turn (no API call)


PROMPTS = {
    "soulchat": "the paper's empathy-constraint prompt (Figure 2), 用户/心理咨询师, 8-20 utterances",
    "smile": "SMILE baseline: the rewrite without the empathy constraint, 求助者/支持者 (wording reconstructed)",
    "plain": "no rewrite: each Q&A kept as one turn (no request sent)",
}


def register(registry: Registry) -> None:
    registry.add("stage", "rewrite", RewriteConfig, "soulchat.rewrite.stage:STAGE")
    for name, doc in PROMPTS.items():
        registry.add("prompt", name, PromptConfig, "soulchat.rewrite.prompts:build", doc=doc)
