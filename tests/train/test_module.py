"""The target-only loss equals Hugging Face's loss, for plain and LoRA-wrapped models."""

import numpy as np
import pytest
import torch

from soulchat.registry import build
from soulchat.train.data import Collator
from soulchat.train.module import target_loss


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_target_loss_equals_hf_loss(compose, outputs, finetune):
    cfg = compose(["model.hidden_size=64", "model.intermediate_size=128", f"finetune={finetune}"])
    builder = build("model", cfg.model)
    tok = builder.tokenizer(cfg.paths.cache)
    model = build("finetune", cfg.finetune, builder.model(tok, 0), builder.lora_targets).eval()
    rng = np.random.default_rng(0)
    samples = []
    for n, t in [(12, 3), (7, 5), (20, 1)]:
        ids = rng.integers(5, len(tok), n + t).astype(np.int32)
        samples.append({"input_ids": ids, "labels": np.concatenate([np.full(n, -100), ids[n:]]).astype(np.int32)})
    batch = Collator(tok.pad_token_id)(samples)
    ours, count = target_loss(model, batch)
    theirs = model(**batch).loss
    assert int(count) == 9
    assert torch.allclose(ours, theirs, atol=1e-5)
