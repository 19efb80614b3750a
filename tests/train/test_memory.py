"""The memory plan: the ZeRO paper's published model-state figures, real families' shapes built
without weights, and the warning before a launch that would not fit."""

from __future__ import annotations

import pytest

from soulchat.train import memory


@pytest.mark.parametrize("zero, published_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_model_states_match_the_zero_papers_figure_1(zero, published_gb):
    """Rajbhandari et al. 2020, Figure 1: a 7.5B model, 64 GPUs, mixed-precision Adam (K = 12)."""
    params = 7.5e9
    states = sum(memory.model_states(int(params), int(params), 64, zero, half=True)[:3])
    assert states / 1e9 == pytest.approx(published_gb, rel=0.02)


def test_offloading_moves_states_to_the_cpu():
    w, g, o, cpu = memory.model_states(10**9, 10**9, 8, 3, True, offload_optimizer=True, offload_parameters=True)
    assert (w, o) == (0.0, 0.0) and g > 0 and cpu == pytest.approx(12e9 / 8 + 2e9 / 8)


def test_real_shapes_without_weights_and_lora_trainables(compose):
    full = memory.shape_of(compose(["scale=paper", "train.dry_run=true"]), "qwen2_5-7b")
    assert full.params / 1e9 == pytest.approx(7.62, abs=0.02) and full.trainable == full.params
    lora = memory.shape_of(compose(["scale=paper", "finetune=lora", "model=qwen2_5"]), "qwen2_5-7b")
    assert lora.params == full.params and 1e6 < lora.trainable < 0.01 * full.params


def test_the_paper_batch_on_a_7b_model_needs_checkpointing_to_fit_80_gb(compose):
    base = ["scale=paper", "strategy=deepspeed_zero2", "train.gpu_memory_gb=80"]
    shape = memory.shape_of(compose(base), "qwen2_5-7b")
    text, info = memory.report(compose(base), shape, 80)
    assert not info["fits"] and "does not fit the 80 GiB GPU" in text
    text, info = memory.report(compose([*base, "train.gradient_checkpointing=true"]), shape, 80)
    assert info["fits"] and "WARNING" not in text
    assert info["bytes"]["activations"] < 0.2 * memory.estimate(compose(base), shape).activations


def test_the_plan_command_prints_the_memory(capsys):
    from soulchat.train.plan import main

    main(["--shape", "qwen2_5-0.5b", "finetune=lora", "model=qwen2_5"])
    out = capsys.readouterr().out
    assert "memory per GPU: 0.49B parameters" in out and "total per GPU" in out


def test_plan_counts_the_fused_loss_head_gradient_and_autocast_copies_where_they_exist(compose):
    shape = memory.Shape(params=10**6, trainable=10**6, layers=2, hidden=64, heads=4, vocab=4000)
    head = 4 * 4000 * 64
    full = memory.estimate(compose(["train.precision=32-true"]), shape)
    assert full.loss == head and full.copies == 0 and full.weights == 4 * 10**6
    mixed = memory.estimate(compose(["train.precision=bf16-mixed"]), shape)  # autocast: the unfused head
    assert mixed.loss == 0 and mixed.copies == 2 * (10**6 - 4000 * 64)
    lora = memory.Shape(params=10**6, trainable=10**4, layers=2, hidden=64, heads=4, vocab=4000)
    est = memory.estimate(compose(["finetune=lora", "train.precision=bf16-mixed", "model.dtype=bfloat16"]), lora)
    assert est.loss == 0 and est.copies == 2 * 10**4 and est.weights == 4 * 10**4 + 2 * (10**6 - 10**4)
    zero3 = memory.estimate(compose(["strategy=deepspeed_zero3", "train.precision=bf16-mixed"]), shape)
    assert zero3.loss == 0 and zero3.copies == 0  # the head is gathered in a hook: unfused
    zero2 = memory.estimate(compose(["strategy=deepspeed_zero2", "train.precision=bf16-mixed"]), shape)
    assert zero2.loss == head and zero2.weights == 2 * 10**6 and zero2.optimizer == 12 * 10**6
