"""scale=paper composes on the CPU with every strategy; the dry run reports the 8-GPU plan."""

import subprocess
import sys

import pytest

from soulchat.train.plan import dry_run_report, make_plan


@pytest.mark.parametrize("strategy", ["auto", "ddp", "deepspeed_zero2", "deepspeed_zero3",
                                      "deepspeed_zero3_offload"])
@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_paper_scale_composes_and_plans(compose, strategy, finetune):
    cfg = compose(["scale=paper", f"strategy={strategy}", f"finetune={finetune}", "model=chatglm3"])
    plan = make_plan(cfg)
    assert (plan.global_batch_size, plan.world_size, plan.accumulate) == (80, 8, 1)
    assert plan.max_steps == 30000 and plan.max_tokens_per_step == 80 * (1536 + 512)
    text, info = dry_run_report(cfg, lengths=[1000, 2000])
    assert "effective global batch 80" in text and "about 120,000" in text
    ds = info["deepspeed"]
    if strategy.startswith("deepspeed"):
        assert ds["train_batch_size"] == 80 and ds["fp16"]["enabled"]
        assert ds["zero_optimization"]["stage"] == (2 if strategy.endswith("2") else 3)
        assert ("offload_optimizer" in ds["zero_optimization"]) == strategy.endswith("offload")
    else:
        assert ds is None


def test_batch_that_does_not_divide_says_what_to_change(compose):
    cfg = compose(["train.global_batch_size=20", "train.micro_batch_size=8"])
    with pytest.raises(ValueError, match="multiple of"):
        make_plan(cfg)


def test_dry_run_command_prints_the_deepspeed_config():
    args = [sys.executable, "-m", "soulchat.train.plan", "scale=paper", "strategy=deepspeed_zero3", "model=glm4"]
    out = subprocess.run([*args, "train.precision=bf16-mixed"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert "on 8 process(es) (gpu)" in out and '"stage": 3' in out and "steps 30000" in out
    assert '"bf16": {' in out
    # the paper's fp16 on GLM-4's bf16 weights: refused, naming both keys
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "train.precision=16-mixed with model.dtype=bfloat16" in res.stderr
