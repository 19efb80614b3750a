"""Every registered component satisfies its family's contract (a ``typing.Protocol``).

One row per family in :data:`CONTRACTS`: ``(family, protocol_for, build)``, where ``build(component)``
returns an instance built from the component's schema defaults and ``protocol_for(instance)`` the
Protocol it must satisfy. Add a family by adding a row.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import pytest
from omegaconf import OmegaConf

from soulchat.registry import registry


def from_schema(comp):
    """The component built by its factory from its schema's defaults (as the stages build it)."""
    cfg = OmegaConf.to_object(OmegaConf.structured(comp.schema(name=comp.name)))
    return comp.load_factory()(cfg)


def missing(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks, or whose methods take another number of
    parameters (empty: ``obj`` satisfies it)."""
    out = []
    for cls in protocol.__mro__:
        if cls in (Protocol, object) or not getattr(cls, "_is_protocol", False):
            continue
        for member in [*getattr(cls, "__annotations__", {}), *(k for k, v in vars(cls).items() if callable(v))]:
            if member.startswith("_") and member != "__call__":
                continue
            if not hasattr(obj, member):
                out.append(member)
            elif callable(vars(cls).get(member)):
                want = tuple(inspect.signature(vars(cls)[member]).parameters)[1:]
                params = inspect.signature(getattr(obj, member)).parameters.values()
                have = tuple(p.name for p in params)
                required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
                # more parameters are fine when they have defaults (the guard metric's optional inputs=)
                if not len(required) <= len(want) <= len(have):
                    out.append(f"{member}{want} (has {have})")
    return sorted(set(out))


def _reader_protocol(obj):
    from soulchat.corpus.contracts import DialogueReader, ExportingReader

    return ExportingReader if hasattr(obj, "export") else DialogueReader


def _filter_protocol(obj):
    from soulchat.corpus.contracts import DialogueFilter

    return DialogueFilter


CONTRACTS = [
    ("reader", _reader_protocol, from_schema),
    ("filter", _filter_protocol, from_schema),
]


def _rows():
    reg = registry()
    for family, protocol_for, build in CONTRACTS:
        comps = reg.families.get(family, {})
        assert comps, f"no {family} component registered"
        for name in sorted(comps):
            yield pytest.param(family, protocol_for, build, name, id=f"{family}-{name}")


@pytest.mark.parametrize("family,protocol_for,build,name", list(_rows()))
def test_every_registered_component_satisfies_its_protocol(family, protocol_for, build, name):
    comp = registry().get(family, name)
    obj = build(comp)
    protocol = protocol_for(obj)
    assert missing(obj, protocol) == [], f"{family}/{name} ({comp.factory}) breaks {protocol.__name__}"
    assert isinstance(obj, protocol)


def test_the_check_catches_a_component_that_breaks_the_contract():
    """A reader without ``read`` and one whose ``detect`` takes other arguments are both caught."""
    from soulchat.corpus.contracts import DialogueReader

    class NoRead:
        name, priority = "x", 0

        def detect(self, p):
            return False

    class WrongDetect(NoRead):
        def detect(self, path, extra):
            return False

        def read(self, path):
            return iter(())

    class NoPriority:
        name = "x"
        detect, read = WrongDetect.read, WrongDetect.read

    assert missing(NoRead(), DialogueReader) == ["read"]
    assert missing(WrongDetect(), DialogueReader) == ["detect('p',) (has ('path', 'extra'))"]
    assert missing(NoPriority(), DialogueReader) == ["priority"]
