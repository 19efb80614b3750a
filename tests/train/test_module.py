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


@pytest.mark.parametrize("bias", [False, True])
def test_fused_linear_cross_entropy_matches_autograd(bias):
    from soulchat.train.loss import LinearCrossEntropy

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=bias)
    hidden = torch.randn(23, 16, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    want = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum")
    params = [hidden, head.weight] + ([head.bias] if bias else [])
    want_grads = torch.autograd.grad(want * 0.5, params)
    for rows in (5, 23, 40):  # 5 chunks with a short last one; one chunk; one chunk larger than the rows
        got = LinearCrossEntropy.apply(hidden, head.weight, head.bias, targets, rows, True)
        got_grads = torch.autograd.grad(got * 0.5, params)
        assert torch.allclose(got, want, rtol=1e-6)
        assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(got_grads, want_grads))
    none = LinearCrossEntropy.apply(hidden[:0], head.weight, head.bias, targets[:0], 5, True)  # no targets
    assert none.item() == 0 and not torch.autograd.grad(none, head.weight)[0].any()
    with torch.no_grad():  # validation: the loss alone
        assert torch.allclose(LinearCrossEntropy.apply(hidden, head.weight, head.bias, targets, 7, False), want)


def test_loss_chunks_fit_the_cpu_cache_and_are_large_on_accelerators():
    import torch

    from soulchat.train.loss import CHUNK_ELEMENTS, DEVICE_CHUNK_ELEMENTS, MIN_ROWS, chunk_rows

    assert chunk_rows(torch.empty(4000, 8)) == CHUNK_ELEMENTS // 4000 == 262  # the tiny model: cache-sized
    assert chunk_rows(torch.empty(151_000, 8, device="meta")) == DEVICE_CHUNK_ELEMENTS // 151_000 == 444
    # a large vocabulary on the CPU: enough rows that each chunk's matmuls outweigh its passes over the
    # whole output layer and its gradient (6 rows at 151k were 4x slower than unfused)
    assert chunk_rows(torch.empty(151_936, 8)) == MIN_ROWS >= 128
    assert chunk_rows(torch.empty(2 * CHUNK_ELEMENTS, 1)) == MIN_ROWS


def test_length_groups_split_varied_rows_only():
    from soulchat.train.loss import length_groups

    assert length_groups([600, 598, 590, 585]) == [[0, 1, 2, 3]]  # similar lengths: one padded group
    groups = length_groups([120, 1400, 1000, 1390, 130])
    assert sorted(r for g in groups for r in g) == [0, 1, 2, 3, 4]  # every row once
    assert [1, 3] in groups and [2] in groups  # long rows apart from much shorter ones
    assert all(len(g) for g in groups)


def test_grouped_decoding_matches_hf_loss_and_gradients(compose, outputs):
    """Rows of very different lengths are decoded in separate groups: same loss and gradients."""
    from soulchat.train.loss import length_groups

    cfg = compose(["model.hidden_size=64", "model.intermediate_size=128"])
    builder = build("model", cfg.model)
    tok = builder.tokenizer(cfg.paths.cache)
    model = builder.model(tok, 0).eval()
    rng = np.random.default_rng(1)
    samples = []
    for n, t in [(300, 20), (20, 6), (290, 14), (40, 10)]:
        ids = rng.integers(5, len(tok), n + t).astype(np.int32)
        samples.append({"input_ids": ids, "labels": np.concatenate([np.full(n, -100), ids[n:]]).astype(np.int32)})
    batch = Collator(tok.pad_token_id)(samples)
    assert len(length_groups(batch["attention_mask"].sum(1).tolist())) > 1
    params = [p for p in model.parameters() if p.requires_grad]
    ours, count = target_loss(model, batch)
    ours_grads = torch.autograd.grad(ours, params, allow_unused=True)
    theirs = model(**batch).loss
    theirs_grads = torch.autograd.grad(theirs, params, allow_unused=True)
    assert int(count) == 50
    assert torch.allclose(ours, theirs, atol=1e-5)
    for a, b in zip(ours_grads, theirs_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_gpu_kernel_loss_falls_back_cleanly(monkeypatch):
    """Liger's kernel is used only on a CUDA device where it is installed; on the CPU, or without
    liger-kernel, the stage's own fused loss runs (and gives the autograd value)."""
    import sys

    import torch

    from soulchat.train import loss

    head = torch.nn.Linear(8, 50)
    assert loss.kernel_loss(head.weight) is None  # CPU: ours, whatever is installed
    loss._liger.cache_clear()
    monkeypatch.setitem(sys.modules, "liger_kernel", None)  # not installed: the import fails
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.fused_linear_cross_entropy", None)
    assert loss._liger() is None
    loss._liger.cache_clear()
    hidden, targets = torch.randn(6, 8), torch.randint(0, 50, (6,))
    fused = loss.LinearCrossEntropy.apply(hidden, head.weight, head.bias, targets, 4, False)
    assert torch.allclose(fused, torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum"), atol=1e-5)
