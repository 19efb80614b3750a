"""The stage cache: finished stages are reused, keys follow config and inputs, force recomputes,
and a half-written output is never taken as finished (an interrupted stage resumes)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from soulchat import pipeline
from soulchat.pipeline import Stage

CALLS: list[str] = []


def _upper(ctx):
    CALLS.append(ctx.name)
    text = ctx.cfg.a.text
    (ctx.out / "a.txt").write_text(text.upper())
    return {"chars": len(text)}


def _count(ctx):
    CALLS.append(ctx.name)
    text = (ctx.inputs["a"] / "a.txt").read_text()
    progress = ctx.out / "progress.txt"
    done = progress.read_text() if progress.exists() else ""
    for ch in text[len(done):]:
        if ctx.cfg.b.crash_at and len(done) == ctx.cfg.b.crash_at:
            raise KeyboardInterrupt("simulated kill")
        done += ch
        progress.write_text(done)
    (ctx.out / "b.json").write_text(json.dumps({"n": text.count(ctx.cfg.b.letter), "resumed": ctx.resumed}))
    return {"count": text.count(ctx.cfg.b.letter)}


@pytest.fixture
def stages(monkeypatch):
    CALLS.clear()
    fake = {
        "a": Stage("a", _upper, lambda c: (), ("a",)),
        "b": Stage("b", _count, lambda c: ("a",), ("b",)),
    }
    monkeypatch.setattr(pipeline, "STAGES", fake)
    return fake


def _cfg(tmp_path, **over):
    base = {"paths": {"cache": str(tmp_path / "cache")}, "force": False,
            "a": {"text": "soulchat", "force": False}, "b": {"letter": "A", "crash_at": 0, "force": False}}
    cfg = OmegaConf.merge(base, over)
    return cfg


def _run_all(cfg, tmp_path, selected=("a", "b")):
    p = pipeline.plan(cfg)
    return {n: pipeline.run_stage(n, cfg, p, tmp_path, execute=n in selected) for n in ("a", "b")}


def test_second_run_reuses_finished_stages(stages, tmp_path):
    first = _run_all(_cfg(tmp_path), tmp_path)
    assert CALLS == ["a", "b"] and not first["a"].cached
    second = _run_all(_cfg(tmp_path), tmp_path)
    assert CALLS == ["a", "b"], "nothing recomputed"
    assert second["b"].cached and second["b"].metrics == {"count": 1.0}
    assert second["b"].path == first["b"].path


def test_changing_downstream_config_reruns_only_downstream(stages, tmp_path):
    _run_all(_cfg(tmp_path), tmp_path)
    res = _run_all(_cfg(tmp_path, b={"letter": "Z"}), tmp_path)
    assert CALLS == ["a", "b", "b"]
    assert res["a"].cached and res["b"].metrics == {"count": 0.0}
    # an upstream change changes the downstream key too
    p1 = pipeline.plan(_cfg(tmp_path))
    p2 = pipeline.plan(_cfg(tmp_path, a={"text": "other"}))
    assert p1.keys["a"] != p2.keys["a"] and p1.keys["b"] != p2.keys["b"]


def test_force_recomputes_globally_and_per_stage(stages, tmp_path):
    _run_all(_cfg(tmp_path), tmp_path)
    _run_all(_cfg(tmp_path, b={"force": True}), tmp_path)
    assert CALLS == ["a", "b", "b"]
    _run_all(_cfg(tmp_path, force=True), tmp_path)
    assert CALLS == ["a", "b", "b", "a", "b"]
    # force is not part of the key
    assert pipeline.plan(_cfg(tmp_path)).keys == pipeline.plan(_cfg(tmp_path, force=True, b={"force": True})).keys


def test_interrupted_stage_is_not_finished_and_resumes(stages, tmp_path):
    cfg = _cfg(tmp_path, b={"crash_at": 3})
    with pytest.raises(KeyboardInterrupt):
        _run_all(cfg, tmp_path)
    p = pipeline.plan(cfg)
    partial = p.paths["b"].parent / f"{p.keys['b']}.partial"
    assert partial.exists() and not p.paths["b"].exists()
    assert (partial / "progress.txt").read_text() == "SOU"
    assert pipeline.read_marker(partial) is None
    # crash_at is part of b's key, so resume with the same config after "fixing" the crash source
    _count_calls = len(CALLS)
    cfg.b.crash_at = 0
    p2 = pipeline.plan(cfg)
    partial.rename(p2.paths["b"].parent / f"{p2.keys['b']}.partial")
    res = _run_all(cfg, tmp_path)
    assert res["a"].cached and not res["b"].cached and len(CALLS) == _count_calls + 1
    assert json.loads((res["b"].path / "b.json").read_text()) == {"n": 1, "resumed": True}
    assert (res["b"].path / "progress.txt").read_text() == "SOULCHAT"


def test_unselected_upstream_must_be_cached(stages, tmp_path):
    with pytest.raises(RuntimeError, match=r"add it: stages=\[a"):
        _run_all(_cfg(tmp_path), tmp_path, selected=("b",))
    _run_all(_cfg(tmp_path), tmp_path, selected=("a", "b"))
    res = _run_all(_cfg(tmp_path), tmp_path, selected=("b",))
    assert res["a"].cached


def test_input_file_contents_are_part_of_the_key(stages, tmp_path, monkeypatch):
    src = tmp_path / "source.txt"
    src.write_text("one")
    fake = dict(stages)
    fake["a"] = Stage("a", _upper, lambda c: (), ("a",), lambda c: (c.a.source,))
    monkeypatch.setattr(pipeline, "STAGES", fake)
    cfg = _cfg(tmp_path, a={"source": str(src)})
    k1 = pipeline.plan(cfg).keys
    src.write_text("two")
    k2 = pipeline.plan(cfg).keys
    assert k1["a"] != k2["a"] and k1["b"] != k2["b"]
    src.write_text("one")
    assert pipeline.plan(cfg).keys == k1


def test_the_code_a_stage_runs_is_part_of_the_key(stages, tmp_path, monkeypatch):
    """Editing a stage's source re-runs it (and what depends on it) instead of reusing the cache."""
    pkg = tmp_path / "stagecode"
    pkg.mkdir()
    (pkg / "impl.py").write_text("X = 1\n")
    fake = dict(stages)
    fake["a"] = Stage("a", _upper, lambda c: (), ("a",), code=(str(pkg),))
    monkeypatch.setattr(pipeline, "STAGES", fake)
    cfg = _cfg(tmp_path)
    k1 = pipeline.plan(cfg).keys
    (pkg / "impl.py").write_text("X = 2\n")
    pipeline.code_fingerprint.cache_clear()  # a new process computes it afresh
    k2 = pipeline.plan(cfg).keys
    assert k1["a"] != k2["a"] and k1["b"] != k2["b"]


def test_builtin_stages_key_their_own_packages():
    from soulchat.pipeline import PACKAGE, STAGES

    assert STAGES["train"].code and all((PACKAGE / c).exists() for s in STAGES.values() for c in s.code)
    assert "model" in STAGES["train"].code and "llm" in STAGES["rewrite"].code
