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
    return {n: pipeline.run_stage(n, cfg, p, tmp_path, selected=n in selected) for n in ("a", "b")}


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


def test_unselected_upstream_is_computed_when_missing_and_reused_when_cached(stages, tmp_path, caplog):
    caplog.set_level("INFO", logger="soulchat.pipeline")
    res = _run_all(_cfg(tmp_path), tmp_path, selected=("b",))
    assert CALLS == ["a", "b"] and not res["a"].cached
    assert "stage a: not selected, but a selected stage reads it and it is not cached: computing it" in caplog.text
    res = _run_all(_cfg(tmp_path, force=True), tmp_path, selected=("b",))
    assert CALLS == ["a", "b", "b"] and res["a"].cached, "force applies to the selected stages only"
    assert pipeline.needed(["b"], _cfg(tmp_path)) == ["a", "b"]


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


def test_the_code_a_stage_imports_is_part_of_the_key(stages, tmp_path, monkeypatch):
    """Editing a module the stage imports (even inside a function, or as a "module:attr" string)
    re-keys it and what depends on it; editing one it does not import re-keys nothing."""
    from soulchat import codekey

    pkg = tmp_path / "src" / "stagecode"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "impl.py").write_text("def run(ctx):\n    from . import helper\n    return helper.go(ctx)\n")
    (pkg / "helper.py").write_text("LAZY = 'stagecode.lazy:thing'\ndef go(ctx):\n    return {}\n")
    (pkg / "lazy.py").write_text("thing = 1\n")
    (pkg / "unrelated.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setattr(codekey, "ROOTS", {**codekey.ROOTS})
    codekey.track("stagecode")
    fake = dict(stages)
    fake["a"] = Stage("a", "stagecode.impl:run", lambda c: (), ("a",))
    monkeypatch.setattr(pipeline, "STAGES", fake)
    cfg = _cfg(tmp_path)
    k1 = pipeline.plan(cfg).keys
    (pkg / "unrelated.py").write_text("X = 2\n")
    assert pipeline.plan(cfg).keys == k1
    for module in ("helper.py", "lazy.py", "__init__.py"):
        (pkg / module).write_text((pkg / module).read_text() + "# edited\n")
        k2 = pipeline.plan(cfg).keys
        assert k1["a"] != k2["a"] and k1["b"] != k2["b"], module
        k1 = k2


def test_operational_settings_are_not_in_the_keys(compose):
    base = pipeline.plan(compose()).keys
    for override in ("rewrite.concurrency=4", "endpoint.timeout_s=5", "endpoint.max_cost=3",
                     "endpoint.max_requests=9", "endpoint.store=/tmp/elsewhere.sqlite", "rewrite.force=true"):
        assert pipeline.plan(compose([override])).keys == base, override
    assert pipeline.plan(compose(["rewrite.limit=3"])).keys["rewrite"] != base["rewrite"]


def test_the_corpus_key_covers_the_tokenizer_by_content(compose, tmp_path):
    """Another tokenizer (a model folder's own) re-keys the corpus and what follows; so does editing
    its files in place, but not editing the weights beside them (those re-key training only)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "model.safetensors").write_text("weights are not the tokenizer")
    over = [f"model.tokenizer.path={folder}"]
    tiny = pipeline.plan(compose()).keys
    k1 = pipeline.plan(compose(over)).keys
    assert k1["rewrite"] == tiny["rewrite"] and k1["corpus"] != tiny["corpus"] and k1["train"] != tiny["train"]
    (folder / "model.safetensors").write_text("other weights")
    assert pipeline.plan(compose(over)).keys["corpus"] == k1["corpus"]
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"b": 0}}}')
    assert pipeline.plan(compose(over)).keys["corpus"] != k1["corpus"]
    assert pipeline.plan(compose(["model.tokenizer.vocab_size=2000"])).keys["corpus"] != tiny["corpus"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"model.tokenizer.path={empty}: no tokenizer files"):
        pipeline.plan(compose([f"model.tokenizer.path={empty}"]))


def test_train_refuses_a_corpus_made_by_another_tokenizer(compose, tmp_path):
    from soulchat.errors import SoulchatError
    from soulchat.model.tokenizer import check_corpus_tokenizer, write_identity

    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{}")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    tiny, other = compose(), compose([f"model.tokenizer.path={folder}"])
    write_identity(corpus, tiny.model)
    check_corpus_tokenizer(corpus, tiny.model)
    with pytest.raises(SoulchatError, match=rf"tiny tokenizer .* but the model uses the tokenizer in {folder}"):
        check_corpus_tokenizer(corpus, other.model)
    write_identity(corpus, other.model)
    check_corpus_tokenizer(corpus, other.model)
    (corpus / "tokenizer_identity.json").unlink()
    with pytest.raises(SoulchatError, match="unrecorded tokenizer"):
        check_corpus_tokenizer(corpus, other.model)


def test_a_stage_that_fails_before_writing_leaves_no_partial_folder(stages, tmp_path, monkeypatch):
    def _fails(ctx):
        raise RuntimeError("broken before writing anything")

    monkeypatch.setitem(pipeline.STAGES, "a", Stage("a", _fails, lambda c: (), ("a",)))
    cfg = _cfg(tmp_path)
    p = pipeline.plan(cfg)
    with pytest.raises(RuntimeError):
        pipeline.run_stage("a", cfg, p, tmp_path)
    assert not (p.paths["a"].parent / f"{p.keys['a']}.partial").exists()
