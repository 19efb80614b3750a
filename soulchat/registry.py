"""Typed component registries filled by entry-point plugins.

Every swappable part of soulchat (a rewrite prompt, a dataset reader, a base model, a Lightning
strategy, a metric set, ...) is a *component* of a *family*. Plugins are the functions listed under
the ``soulchat.plugins`` entry-point group; each one receives the :class:`Registry` and calls
:meth:`Registry.add`. The built-in components register through the same group
(``builtin = soulchat.builtin:register`` in ``pyproject.toml``).

Registering a component also stores its dataclass schema in Hydra's ConfigStore, so that
``<family>=<name>`` works on the command line for a plugin exactly as for a built-in, and a typo in
one of its fields fails at compose time:

- ``schema/<family>/<name>``: the schema, which a YAML option extends through its defaults list
  (``defaults: [/schema/prompt/soulchat@_here_, _self_]``);
- ``<family>/<name>``: the schema itself as a selectable option, unless a YAML file of that name is
  shipped in one of the config folders (then the YAML is the option); families chosen inside a
  stage's section use their group in :data:`GROUPS` instead (``corpus/reader/<name>``).

Factories are given as ``"module:attribute"`` strings and imported only when built, so listing the
plugins or composing a config never imports torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "soulchat.plugins"

#: The families and the contract of each family's factory. A plugin may add a family with
#: :meth:`Registry.add_family`.
FAMILIES: dict[str, str] = {
    "prompt": "rewrite prompt variant; factory(cfg) -> soulchat.rewrite.prompts.Prompt",
    "endpoint": "OpenAI-compatible endpoint settings (base_url, model, key env var, prices)",
    "reader": "dialogue file format; factory: the class, called with its config -> "
              "soulchat.corpus.contracts.DialogueReader (detect(peek), read(path), priority)",
    "filter": "cleaning rule; factory: the class, called with its config -> "
              "soulchat.corpus.contracts.DialogueFilter (filter(dialogue) -> dialogue, counts)",
    "topic": "topic classifier; factory(cfg) -> classifier(dialogue) -> topic name",
    "model": "base model; factory(cfg) -> model builder (tokenizer, causal LM, LoRA targets)",
    "finetune": "fine-tuning method (full, lora); factory(cfg, model) -> trainable model",
    "strategy": "Lightning strategy; factory(cfg) -> lightning Strategy or its name",
    "generator": "reply generator (hf, openai); factory(cfg, ...) -> generator",
    "metric_set": "automatic metrics; factory(cfg) -> torchmetrics Metric returning dict[str, float]",
    "judge": "CEHS rater (rubric heuristic, cehs LLM); factory(cfg) -> judge with rate(samples) -> JudgeReport",
    "guard": "crisis screen of user messages and replies; factory(cfg) -> soulchat.guard.Guard",
    "stage": "pipeline stage; factory: its soulchat.stage.Stage declaration; schema: its config section "
             "(a StageConfig, the root config's <name> section)",
}

#: families whose schema is a section of the root config, not a Hydra config group
SECTION_FAMILIES = ("stage",)

#: families chosen inside a stage's section: their config group (default: the family's name), so
#: ``corpus/reader=text`` selects a reader and ``conf/corpus/reader/<variant>.yaml`` adds a variant
GROUPS: dict[str, str] = {"reader": "corpus/reader", "filter": "corpus/filter"}


@dataclass
class ComponentConfig:
    """Base of every component schema: ``name`` is the registry key that built it."""

    name: str = ""


@dataclass(frozen=True)
class Component:
    """One registered component: where it came from and how to build it."""

    family: str
    name: str
    schema: type
    factory: str | Callable[..., Any] | None
    dist: str
    doc: str = ""

    def load_factory(self) -> Callable[..., Any]:
        """Import and return the factory. Raises ``LookupError`` when the component has none."""
        if self.factory is None:
            raise LookupError(f"{self.family} component {self.name!r} ({self.dist}) has no factory")
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


@dataclass
class PluginError:
    """A plugin that failed to load or register: reported by name with the reason."""

    plugin: str
    dist: str
    reason: str


@dataclass
class Registry:
    """All components, by family, plus the config folders plugins ship."""

    families: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {f: {} for f in FAMILIES}
    )
    family_docs: dict[str, str] = field(default_factory=lambda: dict(FAMILIES))
    config_dirs: list[Path] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)
    _dist: str = "soulchat"

    def add_family(self, family: str, doc: str) -> None:
        """Declare a new family (a plugin may bring its own)."""
        self.families.setdefault(family, {})
        self.family_docs.setdefault(family, doc)

    def add(
        self,
        family: str,
        name: str,
        schema: type,
        factory: str | Callable[..., Any] | None = None,
        doc: str = "",
    ) -> None:
        """Register component ``name`` of ``family``.

        Args:
            family: one of :data:`FAMILIES` or a family added with :meth:`add_family`.
            name: the registry key, also the config option name (``<family>=<name>``).
            schema: a dataclass deriving from :class:`ComponentConfig`.
            factory: ``"module:attr"`` or a callable; see the family's contract.
            doc: one line for ``soulchat plugins``.

        Raises:
            KeyError: unknown family.
            TypeError: schema is not a ComponentConfig dataclass.
            ValueError: the name is already taken by another distribution.
        """
        if family not in self.families:
            raise KeyError(f"unknown component family {family!r}; known: {sorted(self.families)}")
        if family in SECTION_FAMILIES:
            from soulchat.stage_config import StageConfig

            if not (dataclasses.is_dataclass(schema) and issubclass(schema, StageConfig)):
                raise TypeError(f"{family}/{name}: schema must be a dataclass deriving StageConfig")
        elif not (dataclasses.is_dataclass(schema) and issubclass(schema, ComponentConfig)):
            raise TypeError(f"{family}/{name}: schema must be a dataclass deriving ComponentConfig")
        old = self.families[family].get(name)
        if old is not None and old.dist != self._dist:
            raise ValueError(f"{family}/{name} is already registered by {old.dist}")
        doc = doc or ((schema.__doc__ or "").strip().splitlines() or [""])[0]
        self.families[family][name] = Component(family, name, schema, factory, self._dist, doc)

    def add_config_dir(self, path: str | Path) -> None:
        """Add a folder of YAML options (``<family>/<name>.yaml``) to Hydra's search path.

        ``path`` is a filesystem path or ``pkg://package.sub`` (a folder inside an installed
        package); it is stored as the folder's absolute path.
        """
        text = str(path)
        if text.startswith("pkg://"):
            import importlib.util

            package, *sub = text[len("pkg://"):].split(".")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ModuleNotFoundError(f"config folder {text}: package {package!r} is not installed")
            folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*sub)
        else:
            folder = Path(text.removeprefix("file://")).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"config folder {text} ({folder}) does not exist")
        if folder not in self.config_dirs:
            self.config_dirs.append(folder)

    def get(self, family: str, name: str) -> Component:
        """Return a component; the error lists the valid names."""
        try:
            return self.families[family][name]
        except KeyError:
            valid = sorted(self.families.get(family, {}))
            raise KeyError(f"no {family} component {name!r}; valid: {valid}") from None

    def build(self, family: str, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        """Build the component a config node selects (its ``name`` field) with its factory."""
        return self.get(family, cfg.name).load_factory()(cfg, *args, **kwargs)

    def store_configs(self, search_dirs: list[Path]) -> None:
        """Store every schema in Hydra's ConfigStore (see the module docstring)."""
        from hydra.core.config_store import ConfigStore

        cs = ConfigStore.instance()
        for family, comps in self.families.items():
            if family in SECTION_FAMILIES:  # sections of the root (soulchat.config.root_schema)
                continue
            group = GROUPS.get(family, family)
            for name, comp in comps.items():
                node = comp.schema(name=name)
                cs.store(group=f"schema/{family}", name=name, node=node, provider=comp.dist)
                if not any((d / group / f"{name}.yaml").exists() for d in search_dirs):
                    cs.store(group=group, name=name, node=node, provider=comp.dist)


_REGISTRY: Registry | None = None


def load_plugins(reload: bool = False) -> Registry:
    """Run every ``soulchat.plugins`` entry point once and return the registry.

    A plugin that fails to import or register is logged by name with the reason and recorded in
    ``registry.errors``; the others still load.
    """
    global _REGISTRY
    if _REGISTRY is not None and not reload:
        return _REGISTRY
    reg = Registry()
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name != "builtin", e.name))
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else "?"
        reg._dist = dist
        try:
            ep.load()(reg)
        except Exception as exc:  # a broken plugin must not take the others down
            reason = f"{type(exc).__name__}: {exc}"
            reg.errors.append(PluginError(ep.name, dist, reason))
            log.warning("soulchat plugin %r (from %s) failed to load: %s", ep.name, dist, reason)
    reg._dist = "soulchat"
    _REGISTRY = reg
    return reg


def registry() -> Registry:
    """The process-wide registry (plugins loaded on first use)."""
    return load_plugins()


def build(family: str, cfg: Any, *args: Any, **kwargs: Any) -> Any:
    """Shortcut for ``registry().build(...)``."""
    return registry().build(family, cfg, *args, **kwargs)
