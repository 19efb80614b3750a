"""A stage's key follows the code it imports, proven by mutation: every module under soulchat/ is
edited in a copy of the package, and exactly the stages that import it, and those downstream of
them, get new keys. The import graph is checked against the standard library's ``modulefinder``."""

from __future__ import annotations

import modulefinder
import shutil

import pytest

from soulchat import codekey, pipeline


def _downstream(stages: set[str], cfg) -> set[str]:
    out = set(stages)
    for name in pipeline.order(cfg):  # inputs come first
        if out & set(pipeline.stages()[name].inputs(cfg)):
            out.add(name)
    return out


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    copy = tmp_path / "soulchat"
    shutil.copytree(codekey.ROOTS["soulchat"], copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    monkeypatch.setattr(codekey, "ROOTS", {**codekey.ROOTS, "soulchat": copy})
    return copy


@pytest.mark.parametrize("overrides", [[], ["generator=openai"]], ids=["default", "api-generator"])
def test_editing_a_module_rekeys_exactly_its_importers_and_their_downstream(compose, package_copy, overrides):
    cfg = compose(overrides)
    base = pipeline.plan(cfg).keys
    starts = {name: pipeline.stage_modules(stage, cfg) for name, stage in pipeline.stages().items()}
    imports = {name: set(codekey.closure(mods)) for name, mods in starts.items()}

    # the graph contains everything Python's own module finder sees from the same starting points
    for name, mods in starts.items():
        finder = modulefinder.ModuleFinder(path=[str(package_copy.parent)])
        for mod in mods:
            if mod.split(".")[0] == "soulchat":
                finder.import_hook(mod)
        seen = {m for m in finder.modules if m.split(".")[0] == "soulchat"}
        assert seen <= imports[name], (name, sorted(seen - imports[name]))

    modules = sorted(package_copy.rglob("*.py"))
    assert len(modules) > 50
    never_imported = 0
    for path in modules:
        rel = path.relative_to(package_copy.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        original = path.read_bytes()
        path.write_bytes(original + b"\n# mutated\n")
        try:
            keys = pipeline.plan(cfg).keys
        finally:
            path.write_bytes(original)
        changed = {n for n in base if keys[n] != base[n]}
        importers = {n for n, mods in imports.items() if module in mods}
        assert changed == _downstream(importers, cfg), (module, sorted(changed), sorted(importers))
        never_imported += not importers
    # orchestration and tooling (the CLI, the dashboard, the pipeline itself) key no stage
    assert never_imported >= 5
    for module in ("soulchat.pipeline", "soulchat.cli", "soulchat.tracking.ui"):
        assert not any(module in mods for mods in imports.values()), module
    # what the issue named: jieba segmentation feeds corpus and evaluate; rewrite reads with corpus readers
    assert "soulchat.segment" in imports["corpus"] and "soulchat.segment" in imports["evaluate"]
    assert "soulchat.corpus.readers" in imports["rewrite"]
    # components a stage's own section names (evaluate.extra_metric_sets: the guard's rate, the lexicon)
    assert {"soulchat.guard.crisis", "soulchat.guard.metric", "soulchat.evaluate.empathy"} <= imports["evaluate"]


def test_a_plugins_code_is_keyed_when_its_component_is_chosen(compose, tmp_path, monkeypatch):
    """A component registered by a plugin package outside soulchat/: editing the module its factory
    lives in (or one that module imports) re-keys the stage that builds it, and only when chosen."""
    from soulchat.evaluate.components import MetricSetConfig
    from soulchat.registry import registry

    pkg = tmp_path / "site" / "plugpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "metric.py").write_text("from plugpkg import util\n\ndef build(cfg):\n    return util.X\n")
    (pkg / "util.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setattr(codekey, "ROOTS", {**codekey.ROOTS})
    reg = registry()
    monkeypatch.setitem(reg.families["metric_set"], "plugmetric", reg.families["metric_set"]["paper"].__class__(
        "metric_set", "plugmetric", MetricSetConfig, "plugpkg.metric:build", "plugpkg"))
    chosen, other = compose([]), compose([])
    chosen.metric_set.name = "plugmetric"
    before, before_other = pipeline.plan(chosen).keys, pipeline.plan(other).keys
    (pkg / "util.py").write_text("X = 2\n")
    after = pipeline.plan(chosen).keys
    assert after["evaluate"] != before["evaluate"]
    assert {k: v for k, v in after.items() if k != "evaluate"} == {k: v for k, v in before.items() if k != "evaluate"}
    assert pipeline.plan(other).keys == before_other
