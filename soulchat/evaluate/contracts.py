"""What a metric set and a judge are (``typing.Protocol``s), and what they declare for reports.

A metric set declares its report columns (:class:`Columns`), a judge its rubric (:class:`Rubric`),
both as class attributes, so the report (:mod:`.layout`) and the human sheets (:mod:`.human`) read
them without building anything; tests/foundation/test_contracts.py checks every registered one.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Columns:
    """How a metric set's keys appear in the report.

    Attributes:
        headings: metric key -> column heading, in column order (a key not declared by any metric set
            gets its key as heading, after the declared columns).
        panel: the figure's panel for these columns ("": not plotted).
        ranked: higher is better and comparable across models: the best value per test set is bolded.
        n: metric key -> the key holding how many items its value covers (the cell shows ``v (n N)``).
    """

    headings: dict[str, str]
    panel: str = ""
    ranked: bool = False
    n: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dimension:
    """One rubric dimension: scores 0..``top``."""

    key: str  # the rating's field and the metric key, e.g. "content"
    top: int
    heading: str  # the report's column heading, e.g. "Con."
    label: str  # what raters read, e.g. "Content naturalness"


@dataclass(frozen=True)
class Rubric:
    """A judge's rubric: its dimensions, in order; ``source`` cites where it is defined."""

    name: str
    dimensions: tuple[Dimension, ...]
    source: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    @property
    def scale(self) -> dict[str, int]:
        """dimension -> highest score (lowest is 0)."""
        return {d.key: d.top for d in self.dimensions}

    def ranges(self) -> str:
        """The score ranges in short, the common one first: ``0-2; Saf. 0-1``."""
        tops = [d.top for d in self.dimensions]
        common = max(set(tops), key=tops.count)
        return "; ".join([f"0-{common}", *(f"{d.heading} 0-{d.top}" for d in self.dimensions if d.top != common)])

    def describe(self) -> str:
        """For raters: ``Content naturalness 0-2, Empathy 0-2, ... (source)``."""
        text = ", ".join(f"{d.label} 0-{d.top}" for d in self.dimensions)
        return f"{text} ({self.source})" if self.source else text


@dataclass
class JudgeReport:
    """What a judge did: per-sample ratings, and why samples were not rated."""

    status: str  # rated | partial | skipped | disabled
    requested: int
    rubric: Rubric
    ratings: list[dict] = field(default_factory=list)  # {id, <dimension>..., reason, attempts}
    reason: str = ""
    errors: dict[str, int] = field(default_factory=dict)
    from_store: int = 0  # answers read from a store (recorded or cached)
    from_network: int = 0  # requests sent to the endpoint
    heuristic: int = 0  # ratings that a heuristic gave, not an LLM
    label: str = ""  # who gave the scores, for reports
    note: str = ""  # what a reader of the report should know about this judge ("": nothing)

    def means(self) -> dict[str, float]:
        """Mean score per dimension over the rated samples (empty when none was rated)."""
        if not self.ratings:
            return {}
        return {d: sum(r[d] for r in self.ratings) / len(self.ratings) for d in self.rubric.keys}

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "requested": self.requested, "rated": len(self.ratings),
                "reason": self.reason, "errors": self.errors, "from_store": self.from_store,
                "from_network": self.from_network, "means": self.means(), "heuristic": self.heuristic,
                "label": self.label, "note": self.note, "rubric": self.rubric.name}


@runtime_checkable
class MetricSet(Protocol):
    """A ``metric_set`` component: a torchmetrics ``Metric`` built from its config node.

    ``update`` may take ``inputs=`` (each prediction's last user message) and ``histories=`` (the
    messages before each reply) too, and then gets them.
    """

    columns: Columns

    def update(self, predictions: Sequence[str], references: Sequence[str]) -> None: ...

    def compute(self) -> dict[str, float]: ...


@runtime_checkable
class Judge(Protocol):
    """A ``judge`` component, built from its config node: rates ``{id, input, prediction}`` samples
    on its :class:`Rubric` (a class attribute)."""

    rubric: Rubric

    def rate(self, samples: Sequence[dict]) -> JudgeReport: ...


def component_class(factory: Any) -> type | None:
    """The class a registry row builds: the factory itself, or the return annotation of a factory
    function; None when it does not say."""
    if isinstance(factory, type):
        return factory
    try:
        hint = typing.get_type_hints(factory).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return None
    return hint if isinstance(hint, type) else None


def declared(factory: Any, attr: str) -> Any:
    """What a component's class declares as ``attr`` (None when nothing)."""
    cls = component_class(factory)
    return getattr(cls, attr, None) if cls is not None else None


def judge_rubric(name: str) -> Rubric:
    """The rubric the judge registered as ``name`` declares.

    Raises:
        KeyError: no such judge (the message lists the valid ones).
        TypeError: its class declares no :class:`Rubric` as ``rubric``.
    """
    from soulchat.registry import registry

    rubric = declared(registry().get("judge", name).load_factory(), "rubric")
    if not isinstance(rubric, Rubric):
        raise TypeError(f"judge {name!r} declares no rubric (a Rubric class attribute `rubric`)")
    return rubric
