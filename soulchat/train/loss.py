"""The training loss: next-token cross-entropy on target tokens only, computed where it is needed.

:func:`target_loss` runs the decoder, keeps the positions that predict a target token and projects
only those through the output layer. :class:`LinearCrossEntropy` fuses that projection with the
cross-entropy and its gradient, a chunk of rows at a time, so the ``targets x vocabulary`` logits
are never held whole: dialogue-mode batches carry thousands of targets each, whose logits (tens of
MB) would otherwise be written, re-read by the softmax and its backward and by the zero-filled
gradient, far out of cache. Same loss and gradients as the unfused path (a test compares them).
"""

from __future__ import annotations

import torch

from soulchat.train.data import IGNORE

CHUNK_ELEMENTS = 1 << 20  # logits per chunk (4 MB in fp32): the softmax stays in cache


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy over target tokens, and how many there were."""
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return loss, (labels != IGNORE).sum()


class LinearCrossEntropy(torch.autograd.Function):
    """``cross_entropy(hidden @ weight.T + bias, targets, reduction="sum")`` in row chunks.

    The forward pass also computes the gradients (softmax minus one-hot, through the two matmuls of
    the projection) while each chunk's logits are in cache; backward only scales them. Logits and
    softmax are fp32 whatever the weights' dtype. ``grads=False`` (pass ``torch.is_grad_enabled()``;
    validation) computes the loss only.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, rows: int, grads: bool) -> torch.Tensor:
        need = (grads and hidden.requires_grad, grads and weight.requires_grad,
                grads and bias is not None and bias.requires_grad)
        grad_h = torch.empty_like(hidden) if need[0] else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need[1] else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need[2] else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for s in range(0, hidden.size(0), rows):
            h, y = hidden[s:s + rows], targets[s:s + rows]
            logits = torch.nn.functional.linear(h, weight, bias).float()
            lse = torch.logsumexp(logits, -1)
            total += (lse - logits.gather(1, y[:, None]).squeeze(1)).sum()
            if not any(need):
                continue
            p = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            p[torch.arange(len(y), device=y.device), y] -= 1
            p = p.to(weight.dtype)
            if need[0]:
                torch.mm(p, weight, out=grad_h[s:s + rows])
            if need[1]:
                grad_w.addmm_(p.t().float(), h.float())
            if need[2]:
                grad_b += p.float().sum(0)
        ctx.need = need
        ctx.save_for_backward(*(g for g in (grad_h, grad_w, grad_b) if g is not None))
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = iter(ctx.saved_tensors)
        out = [(next(saved) * grad).to(dtype) if need else None for need, dtype in zip(ctx.need, ctx.dtypes)]
        return out[0], out[1], out[2], None, None, None


def fusable(head: torch.nn.Module) -> bool:
    """Whether ``head`` is a plain ``nn.Linear`` whose weight :class:`LinearCrossEntropy` may read
    directly: no forward hooks (DeepSpeed ZeRO-3 gathers partitioned weights in one), no autocast
    (mixed precision decides the matmul dtype itself)."""
    return (type(head) is torch.nn.Linear and not head._forward_hooks and not head._forward_pre_hooks
            and not hasattr(head.weight, "ds_id") and not torch.is_autocast_enabled(head.weight.device.type))


def target_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over the target tokens, and their count, computing logits only there.

    The output layer is the costliest part of a small model (vocabulary x hidden per position) and
    in ``sample`` mode most positions are history without loss; projecting only the positions that
    predict a target token gives the same loss several times faster. Models whose decoder and
    output layer cannot be reached separately fall back to the full forward pass. ``batch`` must
    be right-padded (as :class:`~soulchat.train.data.Collator` pads).
    """
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        decoder, head = core.get_decoder(), core.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        decoder = head = None
    if decoder is None or head is None or decoder is core:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        total, n = token_loss_sum(logits, batch["labels"])
        return total / n.clamp(min=1), n
    # Batches are right-padded (Collator): no pad precedes a real token, so under causal attention
    # the real positions' outputs do not depend on the padding mask; without it SDPA takes its
    # causal fast path (~25% faster here). Pad positions compute garbage that no loss reads.
    hidden = decoder(input_ids=batch["input_ids"]).last_hidden_state[:, :-1][keep]
    n = keep.sum()
    if fusable(head):
        rows = max(1, CHUNK_ELEMENTS // head.weight.shape[0])
        total = LinearCrossEntropy.apply(hidden, head.weight, head.bias, labels[keep], rows,
                                           torch.is_grad_enabled())
    else:
        total = torch.nn.functional.cross_entropy(head(hidden).float(), labels[keep], reduction="sum")
    return total / n.clamp(min=1), n
