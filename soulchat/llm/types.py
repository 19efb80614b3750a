"""The LLM client's request and result types, its run counts, and its contract (:class:`EndpointClient`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol, runtime_checkable


@dataclass(frozen=True)
class Request:
    """One chat-completions request, or a text-completions one when ``prompt`` is set.

    Attributes:
        id: the caller's record id (results, logs, the store's ``item`` column, batch files).
        messages: OpenAI chat messages (``POST /chat/completions``).
        key: what the answer depends on besides model, sampling parameters and attempt, e.g.
            ``{"template": <prompt template hash>, "source": <source record hash>}``. None: a hash
            of ``messages`` (or of ``prompt``).
        params: extra request parameters (``response_format``, ``seed``, ``stop``, ...); part of the key.
        prompt: a raw prompt for ``POST /completions`` (models without a chat template); then
            ``messages`` is unused.
    """

    id: str
    messages: list = field(default_factory=list)
    key: Optional[dict] = None
    params: dict = field(default_factory=dict)
    prompt: Optional[str] = None

    def texts(self) -> list[str]:
        """What is sent as input: the prompt, or each message's content (token estimates, bounds)."""
        if self.prompt is not None:
            return [self.prompt]
        return [str(m.get("content", "")) for m in self.messages]


@dataclass
class Result:
    """The outcome of one request.

    ``status``: ``ok`` (accepted by the validator), ``invalid`` (every attempt rejected),
    ``failed`` (the endpoint refused this item: 400, 422, content filter), ``unfinished`` (a
    transient error outlasted the retries: network, 5xx, 429, timeouts; or a spend guard stopped its
    retries), ``skipped`` (the run stopped first: a spend guard, a fatal error, an endpoint that is
    down). ``unfinished`` and ``skipped`` items are asked again by the next run (:attr:`left`);
    ``errors`` lists each rejected or failed attempt's reason.
    """

    id: str
    status: str
    text: Optional[str] = None
    value: Any = None
    attempts: int = 0
    key: Optional[str] = None
    from_store: int = 0
    from_network: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list = field(default_factory=list)
    model: str = ""
    params: dict = field(default_factory=dict)

    @property
    def left(self) -> bool:
        """Not done for a transient reason: the next run asks again."""
        return self.status in ("unfinished", "skipped")


@dataclass
class Stats:
    """Counts for logs and MLflow (``as_metrics``)."""

    items: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    unfinished: int = 0
    skipped: int = 0
    store_hits: int = 0
    network: int = 0  # requests sent (retries included; not those that never left)
    retries: int = 0
    abandoned: int = 0  # sent, then given up on (timeouts, drops): ``cost`` counts them at their bound
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    stopped_by: Optional[str] = None
    reasons: Counter = field(default_factory=Counter)

    def as_metrics(self) -> dict[str, float]:
        out = {k: float(getattr(self, k)) for k in (
            "items", "ok", "invalid", "failed", "unfinished", "skipped", "store_hits", "network", "retries",
            "abandoned", "prompt_tokens", "completion_tokens", "cost", "seconds")}
        out["requests_per_s"] = self.network / self.seconds if self.seconds else 0.0
        return out

    def count(self, res: Result) -> None:
        """Count one finished item: its status and its errors' reason codes."""
        setattr(self, res.status, getattr(self, res.status) + 1)
        for reason in res.errors:
            self.reasons[reason.split(":", 1)[0]] += 1


#: ``validate(text, request)`` returns the parsed value or raises :class:`~soulchat.llm.failures.InvalidOutput`
Validator = Callable[[str, Request], Any]


class ItemFailed(Exception):
    """This item's request ended without an answer; ``status`` is its :class:`Result` status."""

    def __init__(self, reason: str, status: str = "failed"):
        super().__init__(reason)
        self.status = status


@runtime_checkable
class EndpointClient(Protocol):
    """An ``endpoint`` component (:class:`soulchat.llm.LLMClient`), built from its config node:
    answers requests from its store or the endpoint, in the requests' order."""

    offline: bool
    stats: Stats

    def key_for(self, req: Request, attempt: int) -> str: ...

    def run(self, requests: Iterable[Request], validate: Optional[Validator] = None, max_attempts: int = 1,
            on_result: Optional[Callable[[Request, Result], None]] = None, keep: bool = True,
            ledger: Any = None) -> list[Result]: ...

    async def arun(self, requests: Iterable[Request], validate: Optional[Validator] = None,
                   max_attempts: int = 1, on_result: Optional[Callable[[Request, Result], None]] = None,
                   keep: bool = True, ledger: Any = None) -> list[Result]: ...
