"""Shared test fixtures: compose the real configs, a temp outputs folder, the repo root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "smilechat" / "dev.jsonl.gz"

# DeepSpeed compiles its CPU ops once; keep them between runs
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / "outputs" / "torch_extensions"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# torch's OpenMP threads sleep when idle instead of spinning (read when torch loads, here and in every
# subprocess): on a busy 2-core machine spinning threads slowed the tiny model's steps 3-30x
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.exists():
        return
    skip = pytest.mark.skip(reason=f"needs {SHARED_DATA} (../shared is absent)")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cudnn_attention_on():
    """PyTorch's process-wide cuDNN-attention flag switched on for the test, then put back."""
    import torch

    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
    yield
    torch.backends.cuda.enable_cudnn_sdp(before)


@pytest.fixture
def compose():
    """compose(overrides) -> DictConfig of the real conf/, plugins loaded."""
    from soulchat.config import compose

    return compose


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """A private outputs/ folder (Hydra runs, cache, MLflow store) for one test."""
    out = tmp_path / "outputs"
    out.mkdir()
    monkeypatch.setenv("SOULCHAT_OUTPUTS", str(out))
    return out


@pytest.fixture
def cli():
    """cli(args, env=None, cwd=REPO) -> CompletedProcess of ``python -m soulchat ARGS``."""
    import subprocess

    def _run(args, env=None, cwd=REPO, timeout=600):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "soulchat", *args], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    return _run


def _chat_support():
    """tests/chat/chat_support.py (the chat and serve tests' helpers)."""
    folder = str(Path(__file__).resolve().parent / "chat")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import chat_support

    return chat_support


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``{"outputs", "hf", "run_id"}`` of ``python -m soulchat stages=[train]`` (a short run), shared
    by the chat and serve tests."""
    cs = _chat_support()
    return cs.trained_run(cs.shared_base(tmp_path_factory))


@pytest.fixture(scope="session")
def random_hf(tmp_path_factory):
    """A servable random-init tiny model folder (chat and serve tests)."""
    cs = _chat_support()
    return cs.random_model(cs.shared_base(tmp_path_factory))
