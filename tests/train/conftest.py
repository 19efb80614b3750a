"""Shared fixtures for the train tests: tiny configs, and a small in-memory sample set."""

from __future__ import annotations

import numpy as np
import pytest


class ListSampleSet:
    """The SampleSet API over lists (unit tests of the training loop only)."""

    def __init__(self, samples: list[dict], mode: str = "sample"):
        self.samples = samples
        self.lengths = np.array([len(s["input_ids"]) for s in samples])
        self.mode = mode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


def toy_samples(n: int, vocab: int, seed: int = 0) -> list[dict]:
    """Sequences whose target (a repeat of part of the input) is learnable."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        prompt = rng.integers(10, vocab, size=int(rng.integers(4, 20))).astype(np.int32)
        target = prompt[: int(rng.integers(2, 6))]
        ids = np.concatenate([prompt, target])
        labels = np.concatenate([np.full(len(prompt), -100, np.int32), target])
        out.append({"input_ids": ids, "labels": labels})
    return out


@pytest.fixture
def toy_sets():
    return ListSampleSet(toy_samples(96, 200, 0)), ListSampleSet(toy_samples(24, 200, 1))


@pytest.fixture
def small():
    """Overrides that make a run a few seconds long on the CPU."""
    return list(SMALL)


SMALL = ["train.max_steps=6", "train.global_batch_size=8", "train.micro_batch_size=4",
         "train.warmup_steps=2", "train.lr=3e-3", "train.val_every_n_steps=3",
         "train.checkpoint_every_n_steps=3", "model.hidden_size=64", "model.intermediate_size=128",
         "tracking.enabled=false"]


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory):
    """The real rewrite + corpus stages on the bundled demo data, once per session.

    Returns ``run(overrides) -> (cfg, plan)``: composes the config with a shared outputs folder
    (so the corpus is cached) and runs every stage before ``train``.
    """
    from soulchat import pipeline
    from soulchat.config import compose

    outputs = tmp_path_factory.mktemp("train_outputs")
    (outputs / "run").mkdir()

    def compose_cfg(overrides=()):
        return compose([f"paths.outputs={outputs}", "tracking.enabled=false",
                        *overrides])

    def run(overrides=()):
        cfg = compose_cfg(overrides)
        plan = pipeline.plan(cfg)
        for name in ("rewrite", "corpus"):
            pipeline.run_stage(name, cfg, plan, outputs / "run")
        return cfg, plan

    run.outputs = outputs
    return run
