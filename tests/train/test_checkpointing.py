"""Gradient checkpointing: the same loss and gradients within tolerance, and far fewer activations
kept for the backward pass on a long sequence (counted in bytes of saved tensors, not timed)."""

from __future__ import annotations

import pytest
import torch


def _loss_grads_saved(cfg, checkpointing: bool, ids: torch.Tensor):
    from soulchat.train.fit import build_model, enable_checkpointing
    from soulchat.train.module import target_loss

    torch.manual_seed(0)  # LoRA's own initialisation draws from the global generator
    _, _, model = build_model(cfg)
    if checkpointing:
        enable_checkpointing(model)
    model.train()
    torch.manual_seed(1)  # the same dropout masks in both runs (recomputation restores the RNG itself)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    labels = ids.clone()
    labels[:, : ids.size(1) // 2] = -100
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = target_loss(model, batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads, sum(saved)


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_checkpointing_keeps_loss_and_gradients_and_saves_memory(compose, tmp_path, finetune):
    cfg = compose([f"finetune={finetune}", f"paths.cache={tmp_path}", "model.num_layers=4"])
    torch.manual_seed(0)
    ids = torch.randint(10, int(cfg.model.tokenizer.vocab_size), (2, 384))
    loss0, grads0, saved0 = _loss_grads_saved(cfg, False, ids)
    loss1, grads1, saved1 = _loss_grads_saved(cfg, True, ids)
    assert loss1 == pytest.approx(loss0, rel=1e-5)
    assert grads0.keys() == grads1.keys() and grads0
    for name in grads0:
        torch.testing.assert_close(grads1[name], grads0[name], rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")
    assert saved1 < 0.5 * saved0, (saved1, saved0)


def test_the_setting_reaches_the_fit(compose):
    assert compose(["train.gradient_checkpointing=true"]).train.gradient_checkpointing is True
