"""The ``crisis`` guard: Chinese and English rules (:mod:`.zh`, :mod:`.en`, :mod:`.replies`) in
front of the model, a configurable crisis answer, and an event log without the text; behind the
rules, the learned screen (:mod:`.learned`) turns a message they let through into a concern."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional, Sequence

from soulchat.errors import ConfigError
from soulchat.guard import CLEAR, Verdict, context, en, learned, learned_context, replies, zh
from soulchat.guard.engine import Lexicon, normalize, screen

log = logging.getLogger(__name__)

# the last assistant turn asked about risk and the user says yes: 你有没有想过伤害自己？ -> 有
_RISK_QUESTION = re.compile(r"自杀|轻生|伤害自己|结束(?:自己的)?生命|不想活|想死|自残|kill yourself|suicid|hurt yourself|end your life")
_ASKS = re.compile(r"[吗嘛?？]|有没有|是不是|是否|会不会")
_YES = re.compile(r"^(?:是|是的|是啊|有|有的|有过|有时候|偶尔|经常|会|嗯+|对|对的|想过|想|yes|yeah|yep|sometimes|i do|i have)(?:[,，。.!！…~ ]|$)")
_NO = re.compile(r"没有|不|no\b|never")


class CrisisGuard:
    """Screens user messages and replies with rule lexicons; see :class:`soulchat.guard.Guard`.

    Args:
        cfg: its config (:class:`soulchat.guard.components.CrisisGuardConfig`).
        model: the learned user screen to use instead of the one trained on every labelled set.
        reply_model: the same for the learned reply screen.
        context_model: the same for the learned reply screen read with the conversation.
    """

    def __init__(self, cfg: Any, model: Optional[Any] = None, reply_model: Optional[Any] = None,
                 context_model: Optional[Any] = None) -> None:
        self.cfg = cfg
        self.user_lexicons: tuple[Lexicon, ...] = (zh.LEXICON, en.LEXICON)
        self.reply_lexicons: tuple[Lexicon, ...] = (replies.ZH, replies.EN)
        for text in [cfg.response, *dict(cfg.responses).values()]:
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"guard {cfg.name}: a crisis response is empty; set guard.response / guard.responses")
        self.model = self.reply_model = self.context_model = None
        if getattr(cfg, "learned", False):
            for key in ("concern_threshold", "reply_threshold", "context_threshold"):
                threshold = float(getattr(cfg, key))
                if not 0.0 < threshold <= 1.0:
                    raise ConfigError(f"guard {cfg.name}: guard.{key}={threshold} must be in (0, 1]")
            if not str(cfg.note).strip():
                raise ConfigError(f"guard {cfg.name}: guard.note is empty; set it or guard.learned=false")
            self.model = model if model is not None else learned.default_model()
            self.reply_model = reply_model if reply_model is not None else learned.default_reply_model()
            self.context_model = context_model if context_model is not None else learned_context.default_context_model()

    def screen_user(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        if not (self.cfg.enabled and self.cfg.screen_user):
            return Verdict(False, None, "disabled")
        norm = normalize(text)
        verdict = _first(self.user_lexicons, norm)
        if not verdict.flagged and _affirms_risk(norm, history):
            verdict = Verdict(True, "suicide", "suicide.affirmed")
        # only where the rules saw nothing or only an idiom: their negation, other person and past are kept
        if verdict.reason in ("clear", "idiom") and self.model is not None:
            score, category = self.model.score(norm, normalized=True)
            if score >= float(self.cfg.concern_threshold):
                verdict = Verdict(False, category, f"concern.{category}", concern=True)
        return self._logged(verdict, "user")

    def screen_reply(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        if not (self.cfg.enabled and self.cfg.screen_reply):
            return Verdict(False, None, "disabled")
        norm = normalize(text)
        verdict = _first(self.reply_lexicons, norm)
        # with the conversation: after a crisis the user named, the learned context screen (and the phrase
        # rules when configured) reads the reply against it
        if not verdict.flagged and history and (self.context_model is not None or self.cfg.context_rules):
            ctx = context.read(history, lambda user: _first(self.user_lexicons, user))
            in_context = context.screen(ctx, norm) if ctx and self.cfg.context_rules else CLEAR
            verdict = in_context if in_context.flagged else verdict
            if (not verdict.flagged and self.context_model is not None
                    and learned_context.crisis_in(history, user_model=self.model, ctx=ctx)
                    and self.context_model.score(norm, True, normalized=True) >= float(self.cfg.context_threshold)):
                verdict = Verdict(True, "unsafe_reply", "unsafe_reply.context.learned")
        # a learned hit on a reply is flagged, not a note: the reply is replaced by the crisis answer
        if not verdict.flagged and self.reply_model is not None and replies.TOPIC.search(norm):
            if self.reply_model.score(norm, normalized=True)[0] >= float(self.cfg.reply_threshold):
                verdict = Verdict(True, "unsafe_reply", "unsafe_reply.learned")
        return self._logged(verdict, "reply")

    def response(self, verdict: Verdict) -> str:
        """The crisis answer for ``verdict``'s category (``guard.responses``, else ``guard.response``)."""
        template = dict(self.cfg.responses).get(verdict.category or "", self.cfg.response)
        return self._hotlines(template)

    def note(self, verdict: Verdict) -> str:
        """The note added to the model's reply for a concern (``guard.note``)."""
        return self._hotlines(str(getattr(self.cfg, "note", "")))

    def _hotlines(self, template: str) -> str:
        return template.replace("{hotlines}", "\n".join(str(h) for h in self.cfg.hotlines))

    def _logged(self, verdict: Verdict, role: str) -> Verdict:
        if (verdict.flagged or verdict.concern) and self.cfg.log_events:
            log.warning("guard %s: %s message %s (category=%s, reason=%s)", self.cfg.name, role,
                        "flagged" if verdict.flagged else "a concern", verdict.category, verdict.reason)
        return verdict


def _first(lexicons: Sequence[Lexicon], text: str) -> Verdict:
    """The first flagged verdict over ``lexicons``, else the most telling reason for letting it go."""
    reasons = []
    for lex in lexicons:
        verdict = screen(lex, text)
        if verdict.flagged:
            return verdict
        reasons.append(verdict.reason)
    reason = next((r for r in reasons if r != "clear"), "clear")
    return CLEAR if reason == "clear" else Verdict(False, None, reason)


def _affirms_risk(text: str, history: Sequence[dict]) -> bool:
    last = next((m for m in reversed(list(history)) if isinstance(m, dict) and m.get("role") == "assistant"), None)
    if last is None or len(text) > 20:
        return False
    asked = normalize(str(last.get("content", "")))
    return bool(_RISK_QUESTION.search(asked) and _ASKS.search(asked) and _YES.search(text) and not _NO.search(text))


def build(cfg: Any) -> CrisisGuard:
    """The ``guard/crisis`` factory."""
    return CrisisGuard(cfg)
