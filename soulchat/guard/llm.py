"""The ``llm`` guard: an OpenAI-compatible LLM screens each message beside an inner rule guard.

A verdict is flagged when EITHER flags: the inner guard (``guard.inner``, default ``crisis``) is a
floor the LLM cannot lower (a message it flags is not sent), the LLM adds recall for wordings rules
do not know. Requests go through the one shared client (:class:`soulchat.llm.LLMClient`); the
prompts (:mod:`.llm_prompts`) ask for one JSON object ``{"category": ..., "reason": ...}`` (the
reason is read and dropped: it may quote the user).

Failure policy: an endpoint that is down, slow (past ``guard.timeout_s`` for the whole screen,
retries included), refusing or answering something that is not that JSON leaves the inner verdict
standing (fail open to the rules, never to nothing); the event is logged with a reason code (never
the text or the key) and counted in :attr:`LLMGuard.stats` (a connection dropped before the answer is first
sent again once: :class:`.llm_client.ScreenClient`). After ``down_after`` failures in a row
the LLM is not asked for ``down_for_s`` seconds, so a dead endpoint does not add its timeout to
every message. Decisions and figures: docs/guard.md, "An LLM screen".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from soulchat.errors import ConfigError
from soulchat.guard import Verdict, concern_note
from soulchat.guard.components import CrisisGuardConfig
from soulchat.guard.llm_client import NoStore, ScreenClient, shut
from soulchat.guard.llm_prompts import PROMPT, REPLY_LABELS, REPLY_PROMPT, USER_LABELS, parse
from soulchat.llm import Request
from soulchat.llm.components import EndpointConfig

log = logging.getLogger(__name__)

#: the crisis guard's fields this config does not hand to the inner guard: here they say whether the LLM is asked
OWN = ("name", "screen_user", "screen_reply")

_CODE = re.compile(r"[a-z0-9_]+")


@dataclass
class LLMGuardConfig(EndpointConfig, CrisisGuardConfig):
    """An LLM screen (any OpenAI-compatible endpoint) over an inner rule guard; flagged if either flags.

    The crisis guard's fields (``enabled``, ``response``, ``responses``, ``hotlines``, ``log_events``,
    ...) are handed to the inner guard; ``screen_user`` / ``screen_reply`` say whether the LLM is
    asked (the inner guard always screens both).
    """

    inner: str = "crisis"  # the guard whose verdict is the floor (its schema defaults + the fields above)
    base_url: Optional[str] = None  # None: the LLM is never asked, the inner guard screens alone
    model: str = "gpt-4o-mini"
    temperature: float = 0.0
    max_tokens: int = 96  # {"category", "reason"} is about 30 tokens
    timeout_s: float = 4.0  # the most a screen waits for the LLM, retries included; then the inner verdict
    max_retries: int = 0  # a retry that fits in timeout_s (a 429's Retry-After rarely does)
    json_mode: bool = True  # send response_format=json_object (false for servers that reject it)
    history_turns: int = 4  # earlier messages shown with a user message or a reply
    max_chars: int = 2000  # longer messages are cut (the head and the tail) before they are sent
    down_after: int = 3  # failures in a row after which the LLM is not asked for down_for_s
    down_for_s: float = 30.0
    store: Optional[str] = None  # None: answers are not kept; a path: cached there (benchmarks only: they derive from user text)
    recorded: list = field(default_factory=list)  # not used: a live screen never answers from recordings
    prompt: str = PROMPT  # {history} and {text}; must ask for {"category": <USER_LABELS>, "reason"}
    reply_prompt: str = REPLY_PROMPT  # {history} (optional) and {text}; must ask for {"category": unsafe_reply | none, "reason"}


@dataclass
class ScreenStats:
    """What the LLM screen did since the guard was built (``as_metrics`` for logs and dashboards)."""

    asked: int = 0  # screens sent to the LLM
    answered: int = 0  # with a valid answer
    flagged: int = 0  # answers naming a category
    added: int = 0  # flags the inner guard had not raised
    retried: int = 0  # requests sent again (max_retries, or a connection dropped before the answer)
    failed: Counter = field(default_factory=Counter)  # reason code -> screens the inner verdict decided alone
    seconds: float = 0.0  # waited for the LLM, in all

    def as_metrics(self) -> dict[str, float]:
        out = {"asked": self.asked, "answered": self.answered, "flagged": self.flagged, "added": self.added,
               "retried": self.retried, "failed": sum(self.failed.values()), "seconds": round(self.seconds, 3)}
        return {**out, **{f"failed.{k}": v for k, v in sorted(self.failed.items())}}


class LLMGuard:
    """``guard=llm``: see the module docstring and :class:`soulchat.guard.Guard`."""

    def __init__(self, cfg: Any) -> None:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        self.cfg = cfg
        self.inner = _inner(cfg)
        for key, prompt, fields in (("prompt", cfg.prompt, ("history", "text")), ("reply_prompt", cfg.reply_prompt, ("history", "text"))):
            try:
                prompt.format(**{f: "" for f in fields})
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f"guard {cfg.name}: guard.{key} is not a template with {fields} "
                                  f"({type(exc).__name__}: {exc}); write a literal brace as {{{{ or }}}}") from None
        self.stats = ScreenStats()
        self.live = bool(cfg.base_url) and bool(cfg.enabled)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._store: Any = NoStore()
        self._lock = threading.Lock()
        self._fails_in_row = 0
        self._down_until = 0.0
        self._client: Optional[ScreenClient] = None
        if self.live:  # the URL, the key and the store are checked now, not at the first message
            self._client = ScreenClient(cfg, self._store)
            self._event_loop()
        elif cfg.enabled:
            log.warning("guard %s: guard.base_url is not set: the LLM is never asked, the %s guard screens alone",
                        cfg.name, cfg.inner)

    # -- the Guard protocol -----------------------------------------------------------------------

    def screen_user(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        floor = self.inner.screen_user(text, history)
        if not self.cfg.screen_user:
            return floor
        prompt = self.cfg.prompt.format(history=self._history(history), text=_cut(text, int(self.cfg.max_chars)))
        return self._union(floor, prompt, USER_LABELS, "user")

    def screen_reply(self, text: str, history: Sequence[dict] = ()) -> Verdict:
        floor = self.inner.screen_reply(text, history)
        if not self.cfg.screen_reply:
            return floor
        prompt = self.cfg.reply_prompt.format(history=self._history(history), text=_cut(text, int(self.cfg.max_chars)))
        return self._union(floor, prompt, REPLY_LABELS, "reply")

    def response(self, verdict: Verdict) -> str:
        """The inner guard's crisis answer for ``verdict``'s category."""
        return self.inner.response(verdict)

    def note(self, verdict: Verdict) -> Optional[str]:
        """The inner guard's note for a concern verdict (:func:`soulchat.guard.concern_note`), if it has one."""
        return concern_note(self.inner, verdict)

    def close(self) -> None:
        """Close the LLM's HTTP session and stop its event loop thread (done too when the guard is
        collected or the process exits)."""
        with self._lock:
            if self._loop is not None:
                self._stop()
                self._loop = None

    # -- the LLM ----------------------------------------------------------------------------------

    def _union(self, floor: Verdict, prompt: str, labels: Sequence[str], role: str) -> Verdict:
        if not self.live or floor.flagged or floor.reason == "disabled":
            return floor  # a rules' flag stands whatever the LLM says: no round trip for it
        category = self._ask(prompt, labels, role)
        if category in (None, "none"):
            return floor
        self.stats.added += 1
        if self.cfg.log_events:
            log.warning("guard %s: %s message flagged by the LLM alone (category=%s)", self.cfg.name, role, category)
        return Verdict(True, category, "llm")

    def _ask(self, prompt: str, labels: Sequence[str], role: str) -> Optional[str]:
        """The LLM's category for ``prompt``, or None when it gave none (the failure is counted and logged)."""
        now = time.monotonic()
        if now < self._down_until:
            return self._failed("endpoint_down", role, quiet=True)
        self.stats.asked += 1
        t0 = time.perf_counter()
        try:
            code, category = self._run(prompt, labels)
        finally:
            self.stats.seconds += time.perf_counter() - t0
        if category is None:
            return self._failed(code, role)
        self._fails_in_row = 0
        self.stats.answered += 1
        self.stats.flagged += category != "none"
        return category

    def _failed(self, code: str, role: str, quiet: bool = False) -> None:
        self.stats.failed[code] += 1
        if quiet:
            return None
        self._fails_in_row += 1
        log.warning("guard %s: the LLM screen of a %s message failed (%s); the %s guard's verdict stands",
                    self.cfg.name, role, code, self.cfg.inner)
        if self._fails_in_row >= int(self.cfg.down_after):
            self._down_until = time.monotonic() + float(self.cfg.down_for_s)
            self._fails_in_row = 0
            log.warning("guard %s: %d LLM screens failed in a row; the LLM is not asked for %.0f s",
                        self.cfg.name, int(self.cfg.down_after), float(self.cfg.down_for_s))
        return None

    def _run(self, prompt: str, labels: Sequence[str]) -> tuple[str, Optional[str]]:
        """``(reason code, category or None)`` for one request, within ``timeout_s`` in all."""
        import concurrent.futures

        from soulchat.llm import FatalEndpointError

        req = Request(id="guard", messages=[{"role": "user", "content": prompt}],
                      params={"response_format": {"type": "json_object"}} if self.cfg.json_mode else {})
        screen = self._client.screen(req, lambda text, _: parse(text, labels))
        future = asyncio.run_coroutine_threadsafe(screen, self._event_loop())
        try:
            res, counts = future.result(timeout=float(self.cfg.timeout_s) + 0.5)  # the SDK's own timeout fires first
        except concurrent.futures.TimeoutError:
            future.cancel()
            return "deadline", None
        except FatalEndpointError:
            return "endpoint_refused", None  # 401/403/404: check base_url, model and the key's variable
        except Exception as exc:  # a screen never takes the chat down; the type names the bug
            return f"error_{type(exc).__name__.lower()}", None
        self.stats.retried += counts.retries
        if res.status == "ok":
            return "ok", res.value
        first = (res.errors[-1].split(":", 1)[0] if res.errors else res.status).lower()
        return (first if _CODE.fullmatch(first) else res.status), None

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the requests run on, in a daemon thread: a caller inside a running loop (the
        server's handlers) cannot start one, and a hard deadline needs the request elsewhere."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=f"guard-{self.cfg.name}", daemon=True).start()
                self._stop = weakref.finalize(self, shut, loop, self._client)  # no unclosed session at exit
                if self.cfg.store:  # SQLite is used from the thread that opened it
                    from soulchat.llm import ResponseStore

                    self._store = asyncio.run_coroutine_threadsafe(_call(ResponseStore, self.cfg.store), loop).result(10)
                    self._client.store = self._store
                self._loop = loop
            return self._loop

    def _history(self, history: Sequence[dict]) -> str:
        turns = [m for m in history if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
        keep = turns[-int(self.cfg.history_turns):] if int(self.cfg.history_turns) > 0 else []
        names = {"user": "用户", "assistant": "咨询师"}
        return "\n".join(f"{names[m['role']]}：{_cut(str(m.get('content', '')), 500)}" for m in keep)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head and its tail (a crisis is often said last)."""
    return text if len(text) <= limit else text[: limit // 2] + "……" + text[-(limit // 2):]


def _inner(cfg: Any) -> Any:
    """The inner guard: its schema's defaults with this config's values of the crisis guard's fields
    (``enabled``, ``hotlines``, ``response``, ... but :data:`OWN`) that its schema has."""
    from omegaconf import OmegaConf

    from soulchat.registry import build, registry

    if cfg.inner == cfg.name or cfg.inner == "llm":
        raise ConfigError(f"guard {cfg.name}: guard.inner={cfg.inner} would wrap itself; use a rule guard (crisis)")
    try:
        schema = registry().get("guard", cfg.inner).schema
    except KeyError as exc:
        raise ConfigError(f"guard {cfg.name}: guard.inner: {exc.args[0]}") from None
    node = OmegaConf.structured(schema(name=cfg.inner))
    for f in dataclasses.fields(CrisisGuardConfig):
        if f.name not in OWN and f.name in node:
            node[f.name] = cfg[f.name]
    return build("guard", node)


def build(cfg: Any) -> LLMGuard:
    """The ``guard/llm`` factory."""
    return LLMGuard(cfg)
