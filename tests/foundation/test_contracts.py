"""Every registered component satisfies its family's contract (a ``typing.Protocol``).

One row per family in :data:`CONTRACTS`: ``(family, protocol_for, build)``, where ``build(component)``
returns an instance built from the component's schema defaults and ``protocol_for(instance)`` the
Protocol it must satisfy. Add a family by adding a row.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Protocol
from unittest import mock

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


def composed(comp):
    """The component built from its option composed with the real configs (caches in a temp folder)."""
    import tempfile

    from soulchat.config import compose

    cfg = compose([f"{comp.family}={comp.name}", f"paths.cache={tempfile.mkdtemp(prefix='contracts-')}"])
    key_env = cfg[comp.family].get("api_key_env")
    with mock.patch.dict(os.environ, {key_env: "sk-contract-test"} if key_env else {}):  # a live endpoint needs one
        return comp.load_factory()(cfg[comp.family])


def unbuilt(comp):
    """The component's class, not initialised (a generator needs a trained model to be built)."""
    from soulchat.evaluate.contracts import component_class

    cls = component_class(comp.load_factory())
    assert cls is not None, f"{comp.family}/{comp.name}: its factory must be a class or annotate the class it returns"
    return cls.__new__(cls)


def _metric_set_protocol(obj):
    from soulchat.evaluate.contracts import MetricSet

    return MetricSet


def _judge_protocol(obj):
    from soulchat.evaluate.contracts import Judge

    return Judge


def _generator_protocol(obj):
    from soulchat.generate.contracts import Generator

    return Generator


def _endpoint_protocol(obj):
    from soulchat.llm.types import EndpointClient

    return EndpointClient


CONTRACTS = [
    ("reader", _reader_protocol, from_schema),
    ("filter", _filter_protocol, from_schema),
    ("metric_set", _metric_set_protocol, composed),
    ("judge", _judge_protocol, composed),
    ("generator", _generator_protocol, unbuilt),
    ("endpoint", _endpoint_protocol, composed),
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
