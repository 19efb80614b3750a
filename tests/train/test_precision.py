"""The precision policy (soulchat/train/precision.py): a model loaded in bf16 trains fp32 master weights
under mixed precision, so updates below bf16's resolution are kept; contradictions fail at compose."""

from __future__ import annotations

import pytest
import torch

from soulchat import validate
from soulchat.errors import ConfigError
from soulchat.train import fit as fitting
from soulchat.train.export import load_trained


def checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_bf16_loaded_full_finetune_keeps_fp32_master_weights(compose, outputs, small, toy_sets, tmp_path, precision):
    # lr 1e-6: each AdamW update (~lr) is far below bf16's spacing at the init's |w| ~ 0.02 (~1.2e-4)
    cfg = compose([*small, "model.dtype=bfloat16", f"train.precision={precision}", "train.lr=1e-6",
                   "train.max_steps=4"])
    _, _, initial = fitting.build_model(cfg)
    assert next(initial.parameters()).dtype == torch.bfloat16  # the loading dtype
    fitting.fit(cfg, None, tmp_path, datasets=toy_sets)

    ckpt = checkpoint(tmp_path / "checkpoints" / fitting.FINAL)
    state = ckpt["state_dict"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}
    moments = [s["exp_avg"] for s in ckpt["optimizer_states"][0]["state"].values()]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    # the tiny updates are kept: nearly every element of a layer's weight moved
    name = "model.model.layers.0.mlp.down_proj.weight"
    before = dict(initial.named_parameters())[name.removeprefix("model.")].detach().float()
    moved = (state[name] != before).float().mean().item()
    assert moved > 0.9, f"only {moved:.1%} of {name} changed"
    assert (state[name] - before).abs().max().item() < 1e-4  # and only by tiny steps

    # the exported model is in the loading dtype: the fp32 weights rounded once
    model, _ = load_trained(cfg, tmp_path / "checkpoints" / fitting.FINAL)
    exported = dict(model.named_parameters())[name.removeprefix("model.")]
    assert exported.dtype == torch.bfloat16
    assert torch.equal(exported, state[name].to(torch.bfloat16))


def test_lora_keeps_its_frozen_base_in_the_loading_dtype(compose, outputs, small, toy_sets, tmp_path):
    cfg = compose([*small, "model.dtype=bfloat16", "train.precision=bf16-mixed", "finetune=lora",
                   "train.max_steps=2"])
    fitting.fit(cfg, None, tmp_path, datasets=toy_sets)
    state = checkpoint(tmp_path / "checkpoints" / fitting.FINAL)["state_dict"]
    adapters = {k: v.dtype for k, v in state.items() if "lora_" in k}
    base = {k: v.dtype for k, v in state.items() if "lora_" not in k and v.is_floating_point()}
    assert adapters and set(adapters.values()) == {torch.float32}
    assert set(base.values()) == {torch.bfloat16}


def test_fp16_with_bf16_weights_fails_at_compose_naming_both_keys(compose):
    for precision in ("16-mixed", "16-true"):
        cfg = compose(["model=qwen2_5", f"train.precision={precision}"])
        found = validate.problems(cfg)
        assert any(f"train.precision={precision} with model.dtype=bfloat16" in line for line in found), found
        with pytest.raises(ConfigError, match="use train.precision=bf16-mixed"):
            validate.check(cfg)
    for fine in (["model=qwen2_5", "train.precision=bf16-mixed"], ["model=chatglm3", "train.precision=16-mixed"],
                 ["model=qwen2_5", "train.precision=16-mixed", "model.dtype=float32"]):
        assert not [p for p in validate.problems(compose(fine)) if "model.dtype" in p]


def test_fp16_on_weights_the_checkpoint_loaded_in_bf16_fails_before_training(compose, outputs, small):
    from soulchat.train.precision import apply

    cfg = compose([*small, "model.dtype=auto", "train.precision=16-mixed"])
    _, _, model = fitting.build_model(cfg)
    with pytest.raises(ConfigError, match="loaded bf16 weights"):
        apply(model.to(torch.bfloat16), cfg)
