"""Corpus-area fixtures: the tiny tokenizer (trained once per session) and a stage runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "soulchat" / "data" / "demo"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache for the session, so the tiny tokenizer is trained once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tok(cache_dir):
    from soulchat.model.tokenizer import tiny_tokenizer

    return tiny_tokenizer(4000, cache_dir)


@pytest.fixture
def write_jsonl(tmp_path):
    """write_jsonl(name, records) -> path of a JSON Lines file in tmp_path."""

    def _write(name, records):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def run_corpus(compose, tmp_path, cache_dir):
    """run_corpus(overrides) -> (metrics, output folder): the corpus stage on a composed config."""
    from soulchat.corpus.stage import run
    from soulchat.pipeline import StageContext

    def _run(overrides=(), name="corpus"):
        cfg = compose([f"paths.outputs={tmp_path / 'outputs'}", f"paths.cache={cache_dir}",
                       "corpus.stats.charts=false", *overrides])
        out = tmp_path / name
        out.mkdir(parents=True, exist_ok=True)
        ctx = StageContext("corpus", cfg, out, {}, "test", tmp_path / "run", None)
        return run(ctx), out

    return _run
