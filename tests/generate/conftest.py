"""Fixtures for the generate tests: a real tiny model folder (random init) and test samples."""

from __future__ import annotations

import pytest

HISTORIES = [
    [{"role": "user", "content": "我最近总是失眠，心里很烦。"}],
    [{"role": "user", "content": "我和男朋友异地恋，最近总吵架。"},
     {"role": "assistant", "content": "听起来你们的沟通遇到了困难，能说说吵架的原因吗？"},
     {"role": "user", "content": "他总说我不理解他，我也很委屈。"}],
    [{"role": "user", "content": "高考快到了，我特别焦虑。"}],
    [{"role": "user", "content": "工作压力很大，我不知道该怎么办。"},
     {"role": "assistant", "content": "我能理解你的压力。"},
     {"role": "user", "content": "老板总是批评我。"}],
    [{"role": "user", "content": "我觉得自己很孤独。"}],
]


@pytest.fixture
def histories():
    return HISTORIES


@pytest.fixture(scope="session")
def compose_cfg(tmp_path_factory):
    """compose_cfg(*overrides): the real composed config (tiny scale), outputs in a temp folder,
    tracking off, 8 new tokens, batches of 2."""
    from soulchat.config import compose

    out = tmp_path_factory.mktemp("outputs")

    def _compose(*overrides: str):
        return compose([f"paths.outputs={out}", "tracking.enabled=false",
                        "generate.max_new_tokens=8", "generate.batch_size=2",
                        *overrides])

    return _compose


@pytest.fixture(scope="session")
def root_cfg(compose_cfg):
    return compose_cfg()


@pytest.fixture(scope="session")
def tiny_train(root_cfg, tmp_path_factory):
    """A train-stage-like folder whose ``hf/`` holds the tiny model (random init) + tokenizer."""
    from soulchat.train.fit import build_model

    _, tokenizer, model = build_model(root_cfg)
    folder = tmp_path_factory.mktemp("train")
    model.save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    return folder


@pytest.fixture
def corpus_dir(tmp_path):
    """A corpus-stage-like folder with a ``test.jsonl`` of five samples."""
    from soulchat.corpus.format import render_input
    from soulchat.io import write_jsonl

    folder = tmp_path / "corpus"
    write_jsonl(folder / "test.jsonl", [
        {"id": f"t-{i}#1", "dialogue_id": f"t-{i}", "history": h, "input": render_input(h),
         "reference": "我能理解你的感受，愿意多说一些吗？"} for i, h in enumerate(HISTORIES)])
    return folder
