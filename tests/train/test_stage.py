"""The train stage on the real corpus output: it learns, exports a loadable HF folder, resumes
exactly, and trains under DeepSpeed ZeRO-2 / ZeRO-3 on the CPU."""

import json

import pytest
import torch

from soulchat import pipeline
from soulchat.train import fit as fitting


def run_train(corpus_run, overrides, tracker=None):
    cfg, plan = corpus_run(overrides)
    res = pipeline.run_stage("train", cfg, plan, corpus_run.outputs / "run", tracker)
    return cfg, res


def open_run(tmp_path):
    """A real MLflow run in a local SQLite store, and a function reading a metric's history."""
    from mlflow import MlflowClient

    from soulchat.tracking.tracker import Tracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri, "train-tests", str(tmp_path / "artifacts"), "t")
    client = MlflowClient(uri)
    return tracker, lambda key: [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, key)]


def assert_curves_logged(history, steps):
    assert [s for s, _ in history("train/loss")] == list(range(1, steps + 1))
    for key in ("train/lr", "train/tokens_per_s", "train/padding_efficiency", "train/val_loss"):
        assert history(key), key


def hf_weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "hf" / "model.safetensors"))


def curve(path):
    return [(r["step"], r.get("loss"), r.get("lr"), r.get("val_loss"))
            for r in json.loads((path / "curve.json").read_text())]


@pytest.mark.slow
def test_default_learns_and_exports_loadable_model(corpus_run, tmp_path):
    """The embedded default (shortened) drops validation loss far below the untrained model's."""
    tracker, history = open_run(tmp_path)
    cfg, res = run_train(corpus_run, ["train.max_steps=40", "train.warmup_steps=5", "train.val_every_n_steps=40",
                                      "train.val_max_samples=64"], tracker)
    assert_curves_logged(history, 40)
    m = res.metrics
    assert m["val_loss_untrained"] > 7.5  # ~ln(4000): uniform guessing
    assert m["val_loss"] < 0.5 * m["val_loss_untrained"], m
    assert m["mean_padding_efficiency"] > 0.9 and m["mean_tokens_per_s"] > 0
    assert (res.path / "curves.png").stat().st_size > 0

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from soulchat.corpus.format import encode_input

    model = AutoModelForCausalLM.from_pretrained(res.path / "hf")
    tok = AutoTokenizer.from_pretrained(res.path / "hf")
    sample = json.loads(next(open(pipeline.plan(cfg).paths["corpus"] / "test.jsonl", encoding="utf-8")))
    ids = torch.tensor([encode_input(tok, sample["history"], cfg.corpus.max_input_tokens)])
    out = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False)
    reply = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert reply.strip()


@pytest.mark.slow
def test_interrupted_and_resumed_stage_equals_uninterrupted(corpus_run, monkeypatch):
    short = ["train.max_steps=6", "train.global_batch_size=8", "train.micro_batch_size=4",
             "train.warmup_steps=2", "train.val_every_n_steps=3", "train.val_max_samples=16", "seed=7"]
    _, straight = run_train(corpus_run, short + ["train.checkpoint_every_n_steps=6"])

    import pytorch_lightning as pl

    class Crash(Exception):
        pass

    class CrashAfter4(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 4:
                raise Crash("simulated crash")

    original = fitting.build_callbacks
    monkeypatch.setattr(fitting, "build_callbacks", lambda *a: original(*a) + [CrashAfter4()])
    # the same run with more frequent checkpoints (another cache key, the same training)
    cfg, plan = corpus_run(short + ["train.checkpoint_every_n_steps=3"])
    with pytest.raises(Crash):
        pipeline.run_stage("train", cfg, plan, corpus_run.outputs / "run")
    partial = plan.paths["train"].with_name(plan.keys["train"] + ".partial")
    assert (partial / "checkpoints" / "last.ckpt").exists()
    monkeypatch.setattr(fitting, "build_callbacks", original)
    resumed = pipeline.run_stage("train", cfg, plan, corpus_run.outputs / "run")

    a, b = hf_weights(straight.path), hf_weights(resumed.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert curve(straight.path) == curve(resumed.path)
    assert straight.metrics["val_loss"] == resumed.metrics["val_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["deepspeed_zero2", "deepspeed_zero3"])
def test_deepspeed_on_cpu_trains_like_the_default(corpus_run, strategy, tmp_path):
    """ZeRO really trains (in a torchrun worker) and follows the single-process loss curve."""
    short = ["train.max_steps=4", "train.global_batch_size=8", "train.micro_batch_size=4",
             "train.warmup_steps=2", "train.val_every_n_steps=4", "train.val_max_samples=16"]
    _, ref = run_train(corpus_run, short)
    tracker, history = open_run(tmp_path)
    _, res = run_train(corpus_run, short + [f"strategy={strategy}"], tracker)
    assert_curves_logged(history, 4)  # forwarded from the worker group
    assert (res.path / "fit_config.yaml").exists()  # trained in its own process group
    assert res.metrics["val_loss"] < res.metrics["val_loss_untrained"]
    ours = [r for r in curve(res.path)]
    theirs = [r for r in curve(ref.path)]
    assert [r[0] for r in ours] == [r[0] for r in theirs]
    for (_, l1, lr1, v1), (_, l2, lr2, v2) in zip(ours, theirs):
        assert lr1 == lr2
        assert (l1 or v1) == pytest.approx(l2 or v2, rel=1e-3)
    a, b = hf_weights(res.path), hf_weights(ref.path)
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


def test_dry_run_reports_without_training(corpus_run):
    cfg, res = run_train(corpus_run, ["train.dry_run=true", "strategy=deepspeed_zero2"])
    assert res.metrics["dry_run"] == 1.0
    info = json.loads((res.path / "dry_run.json").read_text())
    assert info["plan"]["mean_tokens_per_step"] > 0
    assert info["deepspeed"]["zero_optimization"]["stage"] == 2
    assert not (res.path / "hf").exists()


def test_lora_stage_exports_merged_weights(corpus_run):
    cfg, res = run_train(corpus_run, ["finetune=lora", "train.max_steps=4", "train.global_batch_size=8",
                                      "train.micro_batch_size=4", "train.warmup_steps=2",
                                      "train.val_max_samples=16"])
    weights = hf_weights(res.path)
    assert weights and not any("lora" in k for k in weights)

    from soulchat.registry import build

    builder = build("model", cfg.model)
    base = builder.model(builder.tokenizer(cfg.paths.cache), int(cfg.seed)).state_dict()
    changed = [k for k in weights if not torch.equal(weights[k], base[k])]
    assert changed and all(any(t in k for t in ("q_proj", "k_proj", "v_proj", "o_proj")) for k in changed)


def test_dialogue_mode_trains_on_every_reply(corpus_run):
    cfg, res = run_train(corpus_run, ["corpus.mode=dialogue", "train.max_steps=20", "train.warmup_steps=4",
                                      "train.global_batch_size=8", "train.micro_batch_size=8",
                                      "train.val_every_n_steps=20", "train.val_max_samples=16"])
    from soulchat.corpus.samples import SampleSet

    assert SampleSet(pipeline.plan(cfg).paths["corpus"] / "samples" / "train").mode == "dialogue"
    rows = [r for r in json.loads((res.path / "curve.json").read_text()) if "loss" in r]
    # a dialogue carries several replies: many more targets per sequence than one sample's reply
    assert sum(r["targets"] for r in rows) / (8 * len(rows)) > 50
    assert res.metrics["val_loss"] < 0.8 * res.metrics["val_loss_untrained"]
