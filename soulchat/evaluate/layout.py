"""The report's columns, derived from what the metric sets and the judges declare.

Column order: the ranked metric sets' columns (Table 1's automatic metrics), the judges' rubric
dimensions, the other metric sets' columns; metric sets in registry order. A key nobody declares
is shown after them under its own name (:mod:`.report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Optional

from soulchat.evaluate.contracts import Columns, Rubric, declared

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """Attributes:
        headings: metric key -> column heading, in column order.
        ranked: keys whose best value per test set is bolded (the rubric's too, per judge).
        rubric: the judges' dimension keys (their cells carry the judge's n).
        rubrics: the rubrics, for the figure's title.
        n: metric key -> the key holding how many items its value covers.
        panels: the figure's panels, (title, keys); the rubric's panel has the title "".
    """

    headings: dict[str, str]
    ranked: frozenset
    rubric: tuple[str, ...]
    rubrics: tuple[Rubric, ...]
    n: dict[str, str]
    panels: tuple[tuple[str, tuple[str, ...]], ...]


def build_layout(columns: Iterable[Columns], rubrics: Iterable[Rubric]) -> Layout:
    """The layout of these metric sets' columns and these rubrics' dimensions."""
    columns, rubrics = list(columns), list(dict.fromkeys(rubrics))
    headings: dict[str, str] = {}
    panels: dict[str, list[str]] = {}
    ranked: set[str] = set()
    n: dict[str, str] = {}

    def add(cols: Columns) -> None:
        for key, heading in cols.headings.items():
            headings.setdefault(key, heading)
            if cols.panel and key not in panels.setdefault(cols.panel, []):
                panels[cols.panel].append(key)
        n.update(cols.n)
        if cols.ranked:
            ranked.update(cols.headings)

    for cols in columns:
        if cols.ranked:
            add(cols)
    dims = [d for r in rubrics for d in r.dimensions]
    rubric_keys = tuple(dict.fromkeys(d.key for d in dims))
    for d in dims:
        headings.setdefault(d.key, d.heading)
    panels[""] = list(rubric_keys)
    for cols in columns:
        if not cols.ranked:
            add(cols)
    return Layout(headings, frozenset(ranked), rubric_keys, tuple(rubrics), n,
                  tuple((title, tuple(keys)) for title, keys in panels.items() if keys))


def registered_layout(registry: Optional[object] = None) -> Layout:
    """The layout of every registered metric set and judge (those that declare nothing add nothing)."""
    from soulchat.registry import registry as default

    reg = registry or default()
    cols = [_declared(c, "columns") for c in reg.families["metric_set"].values()]  # type: ignore[attr-defined]
    rubrics = [_declared(c, "rubric") for c in reg.families["judge"].values()]  # type: ignore[attr-defined]
    return build_layout([c for c in cols if isinstance(c, Columns)], [r for r in rubrics if isinstance(r, Rubric)])


def _declared(component: object, attr: str) -> object:
    try:
        factory = component.load_factory()  # type: ignore[attr-defined]
    except (ImportError, AttributeError, LookupError) as exc:  # a broken plugin must not break every report
        log.warning("report: %s %s cannot be loaded, its columns are not named: %s",
                    component.family, component.name, exc)  # type: ignore[attr-defined]
        return None
    return declared(factory, attr)
