"""The training loop on a toy sample set (curves recorded) and the batch machinery.

Exact resume is tested on the real corpus in test_stage.py."""

import json

import numpy as np
import pytest

from soulchat.train import fit as fitting
from soulchat.train.data import Collator, LengthGroupedBatches


def test_curve_rows_have_throughput_and_padding(compose, outputs, small, toy_sets, tmp_path, caplog):
    caplog.set_level("INFO", logger="soulchat.train.curves")
    logged = []
    fitting.fit(compose(small), None, tmp_path, datasets=toy_sets,
                log_fn=lambda m, step: logged.append((step, m)))
    rows = json.loads((tmp_path / "curve.json").read_text())
    train = [r for r in rows if "loss" in r]
    assert all(0 < r["padding_efficiency"] <= 1 and r["tokens_per_s"] > 0 for r in train)
    assert train[0]["lr"] == 0.0 and max(r["lr"] for r in train) == pytest.approx(3e-3)
    assert {"train/loss", "train/lr", "train/tokens_per_s", "train/padding_efficiency"} <= set(logged[0][1])
    assert any("train/val_loss" in m for _, m in logged)
    # not a terminal here: progress comes as log lines (the first step, then one per interval, the last)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train: step")]
    assert lines and lines[-1].startswith(f"train: step {train[-1]['step']}/") and len(lines) <= len(train)


def test_training_runs_with_cudnn_attention_off_and_restores_it(compose, outputs, small, toy_sets, tmp_path,
                                                                 monkeypatch, cudnn_attention_on):
    """cuDNN's SDPA builds a graph per new shape (docs/train.md): training switches it off, then back."""
    import torch

    from soulchat.train import module

    seen, real = [], module.target_loss

    def recording(model, batch):
        seen.append(torch.backends.cuda.cudnn_sdp_enabled())
        return real(model, batch)

    monkeypatch.setattr(module, "target_loss", recording)
    short = [*small, "train.max_steps=2"]
    fitting.fit(compose(short), None, tmp_path, datasets=toy_sets)
    assert seen and not any(seen)
    assert torch.backends.cuda.cudnn_sdp_enabled()
    seen.clear()
    fitting.fit(compose([*short, "train.cudnn_attention=true"]), None, tmp_path / "on", datasets=toy_sets)
    assert seen and all(seen)


def test_length_grouped_batches_pad_less_and_resume_exactly():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=2000)
    grouped = LengthGroupedBatches(lengths, 8, seed=3, start=0, stop=600)
    plain = LengthGroupedBatches(lengths, 8, seed=3, start=0, stop=600, group=1)

    def efficiency(sampler):
        batches = list(sampler)
        return sum(lengths[b].sum() for b in batches) / sum(len(b) * lengths[b].max() for b in batches)

    assert efficiency(grouped) > 0.9 > efficiency(plain)
    full = list(grouped)
    assert sorted(i for b in full[:250] for i in b) == list(range(2000))  # one epoch covers all
    tail = list(LengthGroupedBatches(lengths, 8, seed=3, start=377, stop=600))
    assert tail == full[377:]
    ranks = [list(LengthGroupedBatches(lengths, 8, 3, 0, 600, rank=r, world_size=2)) for r in (0, 1)]
    assert ranks[0] == full[0::2] and ranks[1] == full[1::2]


def test_collator_masks_padding():
    batch = Collator(pad_id=0)([
        {"input_ids": np.array([5, 6, 7], np.int32), "labels": np.array([-100, 6, 7], np.int32)},
        {"input_ids": np.array([5], np.int32), "labels": np.array([5], np.int32)},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert Collator(0, pad_to=6)([{"input_ids": [1], "labels": [1]}])["input_ids"].shape == (1, 6)
