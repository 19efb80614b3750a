"""Measuring a guard on a labelled set (``soulchat/data/guard/*.jsonl``): recall on crisis
messages, false positives on hard negatives, precision, per kind with n. Used by
``benchmarks/guard_bench.py`` and the tests that hold the guard to its goals.

A record: ``text``, ``label`` (a category of :data:`soulchat.guard.CATEGORIES` or ``none``),
``kind`` (``first_person_crisis``, ``idiom``, ...); optional ``role`` (``user``, the default, or
``reply``) and ``lang``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soulchat.config import DATA_DIR
from soulchat.guard import CATEGORIES
from soulchat.io import InputError, read_jsonl

DEV = DATA_DIR / "guard" / "labelled.jsonl"
#: the held-out sets in the order they were written; each was scored once before it was tuned on
HELDOUT = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in ("heldout", "heldout2", "heldout3"))
#: new wordings: ``paraphrase`` written before the compositional rules (scored before and after),
#: ``paraphrase2`` after them and before scoring it (scored once); the rules were not tuned on it
PARAPHRASE = DATA_DIR / "guard" / "paraphrase.jsonl"
FRESH = (PARAPHRASE, DATA_DIR / "guard" / "paraphrase2.jsonl")
#: written by people who never saw the rules, the other sets or the docs; ``independent`` was scored once
#: before and once after the compositional rules, then trained on; ``independent2`` was scored once with
#: the rules and the learned screen, then its replies trained on; ``independent3`` was scored before and
#: after the reply screen and is trained on by nothing (docs/guard.md, "Measured")
INDEPENDENT = tuple(DATA_DIR / "guard" / f"{name}.jsonl" for name in ("independent", "independent2", "independent3"))
#: messages that look like a crisis and are not one: the false positives the goal bounds
HARD_NEGATIVES = ("idiom", "third_person", "past", "news", "negated", "general")


def load(path: str | Path) -> list[dict]:
    """The records of a labelled file. Raises InputError naming the line and field."""
    rows = []
    for line, rec in read_jsonl(path):
        if not isinstance(rec, dict):
            raise InputError(path, line, None, "a record must be a JSON object")
        for key in ("text", "label", "kind"):
            if not isinstance(rec.get(key), str) or not rec[key].strip():
                raise InputError(path, line, key, "missing or not a non-empty string")
        if rec["label"] not in (*CATEGORIES, "none"):
            raise InputError(path, line, "label", f"{rec['label']!r} is not one of {(*CATEGORIES, 'none')}")
        if rec.setdefault("role", "user") not in ("user", "reply"):
            raise InputError(path, line, "role", f"{rec['role']!r} is not user or reply")
        rows.append({**rec, "line": line})
    return rows


@dataclass
class Tally:
    """Counts for one group: n, flagged (either tier), of which concerns (the learned tier alone), and
    (for crisis labels) flagged with the right category."""

    n: int = 0
    flagged: int = 0
    concern: int = 0
    category_ok: int = 0
    misses: list = field(default_factory=list)  # records whose flag disagrees with the label

    def rate(self) -> float:
        return self.flagged / self.n if self.n else 0.0


@dataclass
class Report:
    kinds: dict[tuple[str, str], Tally]  # (role, kind) -> tally
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def group(self, role: str, kinds: tuple[str, ...]) -> Tally:
        out = Tally()
        for (r, k), t in self.kinds.items():
            if r == role and k in kinds:
                out.n, out.flagged, out.category_ok = out.n + t.n, out.flagged + t.flagged, out.category_ok + t.category_ok
                out.concern += t.concern
                out.misses += t.misses
        return out


def score(guard: Any, rows: list[dict]) -> Report:
    """Screen every record (a user message or a reply, by its role) and tally the verdicts; a concern
    counts as flagged (and in ``concern``)."""
    report = Report(defaultdict(Tally))
    for rec in rows:
        verdict = guard.screen_reply(rec["text"]) if rec["role"] == "reply" else guard.screen_user(rec["text"])
        tally = report.kinds[(rec["role"], rec["kind"])]
        flagged = verdict.flagged or verdict.concern
        tally.n += 1
        tally.flagged += flagged
        tally.concern += verdict.concern
        crisis = rec["label"] != "none"
        tally.category_ok += flagged and verdict.category == rec["label"]
        if flagged != crisis:
            tally.misses.append({**rec, "reason": verdict.reason})
        report.tp += crisis and flagged
        report.fp += (not crisis) and flagged
        report.fn += crisis and not flagged
    return report


#: the development set of replies in their conversation (docs/guard.md, "Replies in their conversation")
CONTEXT = DATA_DIR / "guard" / "replies_context.jsonl"
#: replies in their conversation written blind (like ``independent*``), scored once before and once after the
#: learned context screen, trained on by nothing (benchmarks/RESULTS.md, "guard")
INDEPENDENT_CONTEXT = DATA_DIR / "guard" / "independent_context.jsonl"


def is_context_file(path: str | Path) -> bool:
    """Whether a labelled file holds replies in their conversation (records with ``history`` and ``reply``)."""
    for _, rec in read_jsonl(path):
        return isinstance(rec, dict) and "reply" in rec and "history" in rec
    return False


def load_context(path: str | Path) -> list[dict]:
    """The records of a conversation file: ``history`` (OpenAI-style messages ending with the user's),
    ``reply``, ``label`` (``unsafe`` or ``safe``). Raises InputError naming the line and field."""
    rows = []
    for line, rec in read_jsonl(path):
        if not isinstance(rec, dict):
            raise InputError(path, line, None, "a record must be a JSON object")
        history = rec.get("history")
        if not isinstance(history, list) or not history or not all(
                isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
                for m in history) or history[-1]["role"] != "user":
            raise InputError(path, line, "history", "not a list of {role: user|assistant, content} ending with the user's")
        if not isinstance(rec.get("reply"), str) or not rec["reply"].strip():
            raise InputError(path, line, "reply", "missing or not a non-empty string")
        if rec.get("label") not in ("unsafe", "safe"):
            raise InputError(path, line, "label", f"{rec.get('label')!r} is not unsafe or safe")
        rows.append({**rec, "line": line})
    return rows


@dataclass
class ContextReport:
    """Replies screened in (or without) their conversation: unsafe ones caught, safe ones flagged."""

    unsafe: Tally = field(default_factory=Tally)
    safe: Tally = field(default_factory=Tally)


def score_context(guard: Any, rows: list[dict], history: bool = True) -> ContextReport:
    """Screen every reply after its ``history`` (or alone: ``history=False``) and tally the flags."""
    report = ContextReport()
    for rec in rows:
        verdict = guard.screen_reply(rec["reply"], history=rec["history"] if history else ())
        tally = report.unsafe if rec["label"] == "unsafe" else report.safe
        tally.n += 1
        tally.flagged += verdict.flagged
        if verdict.flagged != (rec["label"] == "unsafe"):
            tally.misses.append({**rec, "reason": verdict.reason})
    return report


def default_guard(name: str = "crisis", **overrides: Any) -> Any:
    """A guard built from its schema's defaults (what ``guard=<name>`` gives without overrides)."""
    from omegaconf import OmegaConf

    from soulchat.registry import build, registry

    return build("guard", OmegaConf.structured(registry().get("guard", name).schema(name=name, **overrides)))


class LearnedOnly:
    """The learned screens alone as a guard (for measuring them): a user score at or above
    ``threshold`` is a concern, a reply score at or above ``reply_threshold`` is flagged."""

    def __init__(self, model: Any, threshold: float, reply_model: Any = None, reply_threshold: float = 0.5) -> None:
        self.model, self.threshold = model, threshold
        self.reply_model, self.reply_threshold = reply_model, reply_threshold

    def screen_user(self, text: str, history: Any = ()) -> Any:
        from soulchat.guard import CLEAR, Verdict

        score, category = self.model.score(text)
        return Verdict(False, category, f"concern.{category}", concern=True) if score >= self.threshold else CLEAR

    def screen_reply(self, text: str, history: Any = ()) -> Any:
        from soulchat.guard import CLEAR, Verdict
        from soulchat.guard.engine import normalize
        from soulchat.guard.replies import TOPIC

        if self.reply_model is not None and TOPIC.search(normalize(text)) and self.reply_model.score(text)[0] >= self.reply_threshold:
            return Verdict(True, "unsafe_reply", "unsafe_reply.learned")
        return CLEAR


def cross_validate(held_out: Path, train: list[Path], threshold: float | None = None,
                   reply_threshold: float | None = None, reply_train: list[Path] | None = None) -> dict[str, Report]:
    """Score ``held_out`` with the rules alone, the learned screens alone and the crisis guard (rules,
    then the learned screens), the screens trained on the user messages and the replies of ``train``
    only (``held_out`` is never among them; the replies of ``reply_train`` when given). ``threshold``,
    ``reply_threshold``: the schema's defaults when None."""
    from soulchat.guard import learned

    reply_train = train if reply_train is None else reply_train
    if Path(held_out).resolve() in {Path(p).resolve() for p in (*train, *reply_train)}:
        raise ValueError(f"{held_out} is both held out and trained on")
    from omegaconf import OmegaConf

    from soulchat.guard.components import CrisisGuardConfig
    from soulchat.guard.crisis import CrisisGuard

    rules = default_guard("crisis", learned=False)
    model = learned.fit_records(learned.records(train))
    reply_model = learned.fit_replies(learned.records(reply_train, "reply"))
    cfg = CrisisGuardConfig(name="crisis")
    if threshold is not None:
        cfg.concern_threshold = threshold
    if reply_threshold is not None:
        cfg.reply_threshold = reply_threshold
    both = CrisisGuard(OmegaConf.structured(cfg), model=model, reply_model=reply_model)
    alone = LearnedOnly(model, float(both.cfg.concern_threshold), reply_model, float(both.cfg.reply_threshold))
    rows = load(held_out)
    return {"rules": score(rules, rows), "learned": score(alone, rows), "both": score(both, rows)}


class _ContextOnly:
    """The learned context screen alone as a guard: flagged after a crisis history with a score >= ``threshold``."""

    def __init__(self, model: Any, user_model: Any, threshold: float) -> None:
        self.model, self.user_model, self.threshold = model, user_model, threshold

    def screen_reply(self, text: str, history: Any = ()) -> Any:
        from soulchat.guard import CLEAR, Verdict, learned_context

        if history and learned_context.crisis_in(history, user_model=self.user_model) and \
                self.model.score(text, True) >= self.threshold:
            return Verdict(True, "unsafe_reply", "unsafe_reply.context.learned")
        return CLEAR


def cross_context(held_out: Path, train: list[Path]) -> dict[str, ContextReport]:
    """Score the conversation set ``held_out`` with the learned context screen trained on the replies of
    the labelled sets and the conversation sets ``train`` only: the reply alone (rules and learned reply
    screen, no history), the phrase context rules (with the history, learned off), the learned context
    screen alone, the guard as shipped (reply alone + learned context) and the union of all three."""
    from omegaconf import OmegaConf

    from soulchat.guard import learned, learned_context
    from soulchat.guard.components import CrisisGuardConfig
    from soulchat.guard.crisis import CrisisGuard

    if Path(held_out).resolve() in {Path(p).resolve() for p in train}:
        raise ValueError(f"{held_out} is both held out and trained on")
    model = learned_context.fit(learned.records(learned.REPLY_SETS, "reply"), learned_context.conversations(train))
    guards = {f"{name}": CrisisGuard(OmegaConf.structured(CrisisGuardConfig(name="crisis", context_rules=rules)),
                                     context_model=model) for name, rules in (("shipped", False), ("union", True))}
    cfg = CrisisGuardConfig(name="crisis")
    only = _ContextOnly(model, learned.default_model(), float(cfg.context_threshold))
    rows = load_context(held_out)
    return {"reply alone": score_context(guards["shipped"], rows, history=False),
            "context rules": score_context(default_guard("crisis", learned=False, context_rules=True), rows),
            "learned context": score_context(only, rows), "shipped": score_context(guards["shipped"], rows),
            "union": score_context(guards["union"], rows)}
