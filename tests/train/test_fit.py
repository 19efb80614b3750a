"""The training loop on a toy sample set: resume is exact, batches are grouped, curves recorded."""

import json

import numpy as np
import pytest
import torch

from soulchat.train import fit as fitting
from soulchat.train.data import Collator, LengthGroupedBatches


class Crash(Exception):
    pass


def crash_after(step):
    import pytorch_lightning as pl

    class CrashAt(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == step:
                raise Crash(f"simulated crash after step {step}")

    return CrashAt()


def weights(path):
    from soulchat.train.export import checkpoint_state_dict

    return checkpoint_state_dict(path / "checkpoints" / fitting.FINAL)


def test_interrupted_and_resumed_equals_uninterrupted(compose, outputs, small, toy_sets, tmp_path, monkeypatch):
    cfg = compose(small)
    fitting.fit(cfg, None, tmp_path / "straight", datasets=toy_sets)

    original = fitting.build_callbacks
    monkeypatch.setattr(fitting, "build_callbacks", lambda *a: original(*a) + [crash_after(4)])
    with pytest.raises(Crash):
        fitting.fit(cfg, None, tmp_path / "resumed", datasets=toy_sets)
    assert (tmp_path / "resumed" / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "resumed" / fitting.DONE).exists()
    monkeypatch.setattr(fitting, "build_callbacks", original)
    fitting.fit(cfg, None, tmp_path / "resumed", datasets=toy_sets)

    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    curve = lambda p: [(r["step"], r.get("loss"), r.get("lr"), r.get("val_loss"))  # noqa: E731
                       for r in json.loads((p / "curve.json").read_text())]
    assert curve(tmp_path / "straight") == curve(tmp_path / "resumed")
    assert [r[0] for r in curve(tmp_path / "straight") if r[1] is not None] == [1, 2, 3, 4, 5, 6]


def test_curve_rows_have_throughput_and_padding(compose, outputs, small, toy_sets, tmp_path):
    logged = []
    fitting.fit(compose(small), None, tmp_path, datasets=toy_sets,
                log_fn=lambda m, step: logged.append((step, m)))
    rows = json.loads((tmp_path / "curve.json").read_text())
    train = [r for r in rows if "loss" in r]
    assert all(0 < r["padding_efficiency"] <= 1 and r["tokens_per_s"] > 0 for r in train)
    assert train[0]["lr"] == 0.0 and max(r["lr"] for r in train) == pytest.approx(3e-3)
    assert {"train/loss", "train/lr", "train/tokens_per_s", "train/padding_efficiency"} <= set(logged[0][1])
    assert any("train/val_loss" in m for _, m in logged)


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
