"""The cleaning chain: ``filter`` components applied to canonical dialogues, in ``corpus.filters`` order.

A filter is a callable ``filter(dialogue) -> dialogue`` that may return a changed copy (merged
messages, masked phone numbers) and raises :class:`Reject` with the reason to drop the dialogue.
Each filter counts what it did in ``filter.counts`` (``rejected``, and e.g. ``masked``,
``merged``), which the stage reports per filter, like the paper's "removed 105,134 low-quality
samples".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any


class Reject(Exception):
    """The dialogue is dropped; ``reason`` says why (it goes to rejects.jsonl)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Filter:
    """Base: ``name``, ``cfg`` and ``counts``; subclasses implement :meth:`apply`."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.name = cfg.name
        self.counts: Counter[str] = Counter()

    def __call__(self, d: dict) -> dict:
        self.counts["seen"] += 1
        try:
            return self.apply(d)
        except Reject:
            self.counts["rejected"] += 1
            raise

    def apply(self, d: dict) -> dict:
        raise NotImplementedError


def _choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise ValueError(f"corpus.filters.{key}={value!r}; expected one of {list(allowed)}")
    return value


class FormatFilter(Filter):
    """User first, counsellor last, alternating roles, at least one counsellor reply."""

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.same_role = _choice(cfg.same_role, ("merge", "reject"), f"{cfg.name}.same_role")
        self.leading = _choice(cfg.leading_counsellor, ("drop", "reject"), f"{cfg.name}.leading_counsellor")
        self.trailing = _choice(cfg.trailing_user, ("drop", "reject"), f"{cfg.name}.trailing_user")

    def apply(self, d: dict) -> dict:
        msgs = d["messages"]
        if not any(m["role"] == "assistant" for m in msgs):
            raise Reject("no counsellor message")
        changed = False
        if msgs[0]["role"] != "user":
            if self.leading == "reject":
                raise Reject("opens with the counsellor")
            while msgs and msgs[0]["role"] != "user":
                msgs = msgs[1:]
            self.counts["dropped_leading"] += 1
            changed = True
        if any(a["role"] == b["role"] for a, b in zip(msgs, msgs[1:])):
            if self.same_role == "reject":
                raise Reject("two consecutive messages of the same role")
            merged: list[dict] = []
            for m in msgs:
                if merged and merged[-1]["role"] == m["role"]:
                    merged[-1] = {"role": m["role"], "content": merged[-1]["content"] + self.cfg.merge_separator + m["content"]}
                else:
                    merged.append(m)
            msgs = merged
            self.counts["merged"] += 1
            changed = True
        if msgs and msgs[-1]["role"] != "assistant":
            if self.trailing == "reject":
                raise Reject("ends with the user")
            msgs = msgs[:-1]
            self.counts["dropped_trailing"] += 1
            changed = True
        if not any(m["role"] == "assistant" for m in msgs):
            raise Reject("no counsellor reply after a user message")
        return {**d, "messages": msgs} if changed else d


class TurnsFilter(Filter):
    """Turn count bounds. A turn is a user message and the counsellor's reply, the paper's
    "用户: <user_utt>\n心理咨询师: <psy_utt>" (Section 3), as in ``corpus.max_history_turns``."""

    def apply(self, d: dict) -> dict:
        msgs = d["messages"]
        turns = sum(a["role"] == "user" and b["role"] == "assistant" for a, b in zip(msgs, msgs[1:]))
        if turns < self.cfg.min_turns:
            raise Reject(f"{turns} turns < min_turns={self.cfg.min_turns}")
        if self.cfg.max_turns is not None and turns > self.cfg.max_turns:
            raise Reject(f"{turns} turns > max_turns={self.cfg.max_turns}")
        return d


class LengthFilter(Filter):
    """Utterance length bounds in characters."""

    def apply(self, d: dict) -> dict:
        lo, hi = self.cfg.min_chars, self.cfg.max_chars
        for i, m in enumerate(d["messages"]):
            n = len(m["content"])
            if n < lo or (hi is not None and n > hi):
                raise Reject(f"messages[{i}] has {n} characters, outside [{lo}, {hi if hi is not None else '∞'}]")
        return d


class SensitiveFilter(Filter):
    """The paper's sensitive strings (configurable list): any occurrence rejects the dialogue."""

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.strings = [s for s in cfg.strings if s]
        self.pattern = re.compile("|".join(map(re.escape, self.strings))) if self.strings else None
        self.roles = set(cfg.roles)

    def apply(self, d: dict) -> dict:
        if self.pattern is None:
            return d
        msgs = d["messages"]
        # substring tests over the joined text (much faster than a regex alternation); the message
        # is located only on a hit
        text = "\n".join(m["content"] for m in msgs if m["role"] in self.roles)
        if not any(s in text for s in self.strings):
            return d
        for i, m in enumerate(msgs):
            if m["role"] in self.roles:
                hit = self.pattern.search(m["content"])
                if hit:
                    self.counts[f"string:{hit.group(0)}"] += 1
                    raise Reject(f"sensitive string {hit.group(0)!r} in messages[{i}]")
        return d


#: kind -> (pattern with the private part in group ``v``, mask)
PRIVACY: dict[str, tuple[str, str]] = {
    "email": (r"(?P<v>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", "[邮箱]"),
    "id_card": (r"(?<![0-9])(?P<v>[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])(?![0-9])", "[身份证号]"),
    "phone": (r"(?<![0-9])(?P<v>(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2})(?![0-9])", "[电话]"),
    "qq": (r"(?i)(?:qq|扣扣)\s*(?:号码?)?\s*(?:是|[:：])?\s*(?P<v>[1-9]\d{4,10})(?![0-9])", "[QQ号]"),
    "wechat": (r"(?i)(?:微信|vx|wx)\s*(?:号)?\s*(?:是|[:：])?\s*(?P<v>[A-Za-z][-_A-Za-z0-9]{5,19})", "[微信号]"),
}

_DIGITS4, _VX = re.compile(r"[0-9]{4}"), re.compile(r"[vVwW][xX]")


class PrivacyFilter(Filter):
    """Phone numbers, e-mail addresses, ID-card numbers, QQ / WeChat ids: masked or rejected."""

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.action = _choice(cfg.action, ("mask", "reject"), f"{cfg.name}.action")
        unknown = set(cfg.kinds) - set(PRIVACY)
        if unknown:
            raise ValueError(f"corpus.filters.{cfg.name}.kinds: unknown {sorted(unknown)}; known {list(PRIVACY)}")
        self.rules = [(k, re.compile(PRIVACY[k][0]), PRIVACY[k][1]) for k in PRIVACY if k in cfg.kinds]

    @staticmethod
    def maybe_private(text: str) -> bool:
        """A cheap necessary condition for every rule: 4 ASCII digits, ``@``, 微信 or vx/wx (substring
        tests first: one regex alternation over the text cost more than the rules themselves)."""
        return ("@" in text or "微信" in text
                or (any(c in text for c in "0123456789") and _DIGITS4.search(text) is not None)
                or (("x" in text or "X" in text) and _VX.search(text) is not None))

    def apply(self, d: dict) -> dict:
        if not self.maybe_private("\n".join(m["content"] for m in d["messages"])):
            return d
        out, changed = [], False
        for i, m in enumerate(d["messages"]):
            text = m["content"]
            if self.maybe_private(text):
                for kind, rx, mask in self.rules:
                    if rx.search(text):
                        self.counts[kind] += 1
                        if self.action == "reject":
                            raise Reject(f"{kind} in messages[{i}]")
                        text = rx.sub(lambda h, mask=mask: h.group(0)[: h.start("v") - h.start()] + mask, text)
            if text is not m["content"]:
                changed = True
                m = {**m, "content": text}
            out.append(m)
        if changed:
            self.counts["masked"] += 1
            return {**d, "messages": out}
        return d


def build_chain(filters_cfg: Any) -> list[Filter]:
    """Build ``corpus.filters`` (a dict of filter configs, in order), skipping disabled ones.

    An entry's ``name`` picks the component (default: its key), so a plugin filter is added with
    ``+corpus.filters.mine={name: mine, ...}``; its fields are checked against the plugin's schema.

    Raises:
        KeyError: an unknown filter name (lists the registered ones).
        omegaconf.errors.ConfigKeyError: a field the filter's schema does not have.
    """
    from omegaconf import OmegaConf

    from soulchat.registry import registry

    reg, chain = registry(), []
    for key, node in filters_cfg.items():
        name = node.get("name") or key
        comp = reg.get("filter", name)
        merged = OmegaConf.merge(OmegaConf.structured(comp.schema(name=name)), node)
        merged.name = name
        if merged.get("enabled", True):
            # a plain dataclass: filters read their settings per dialogue, DictConfig lookups are slow
            flt = comp.load_factory()(OmegaConf.to_object(merged))
            flt.name = key  # the chain's key names it in counts and rejects
            chain.append(flt)
    return chain
