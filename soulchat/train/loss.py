"""The training loss: next-token cross-entropy on target tokens only, computed where it is needed.

:func:`target_loss` runs the decoder, keeps the positions that predict a target token and projects
only those through the output layer. :class:`LinearCrossEntropy` fuses that projection with the
cross-entropy and its gradient, a chunk of rows at a time, so the ``targets x vocabulary`` logits
are never held whole: dialogue-mode batches carry thousands of targets each, whose logits (tens of
MB) would otherwise be written, re-read by the softmax and its backward and by the zero-filled
gradient, far out of cache. Same loss and gradients as the unfused path (a test compares them).
"""

from __future__ import annotations

import functools

import torch

from soulchat.train.data import IGNORE

CHUNK_ELEMENTS = 1 << 20  # logits per chunk on the CPU (4 MB in fp32): the softmax stays in cache
# Each chunk also reads the whole output layer twice and adds into its whole fp32 gradient: with a
# 150k vocabulary, chunks of 7 rows made those passes dominate (4x slower than unfused on the CPU).
# From ~256 rows the chunk's matmuls outweigh them (benchmarks/loss_bench.py).
MIN_ROWS = 256
# On a GPU the cache argument does not hold and each chunk costs a dozen kernel launches: chunks of
# 64M logits (256 MB in fp32), i.e. ~430 rows of a 150k vocabulary instead of 7.
DEVICE_CHUNK_ELEMENTS = 1 << 26


def chunk_rows(weight: torch.Tensor) -> int:
    """Rows of targets :class:`LinearCrossEntropy` projects at a time for this output layer."""
    elements = CHUNK_ELEMENTS if weight.device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
    return max(MIN_ROWS, elements // weight.shape[0])


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
        grad_w = torch.empty(weight.shape, dtype=torch.float32, device=weight.device) if need[1] else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need[2] else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        chunks = max(1, -(-hidden.size(0) // rows))
        rows = max(1, -(-hidden.size(0) // chunks))  # equal chunks: a short last one would cost a full pass too
        if need[1] and hidden.size(0) == 0:
            grad_w.zero_()
        for s in range(0, hidden.size(0), rows):
            h, y = hidden[s:s + rows], targets[s:s + rows]
            at = torch.arange(len(y), device=y.device)
            logits = torch.nn.functional.linear(h, weight, bias).float()
            top = logits.amax(-1, keepdim=True)
            picked = logits[at, y]
            p = logits.sub_(top).exp_()  # one exp pass, in place: exp(logits - max)
            norm = p.sum(-1, keepdim=True)
            total += (norm.log() + top).squeeze(1).sub_(picked).sum()  # log-sum-exp - target logit
            if not any(need):
                continue
            p.div_(norm)  # softmax
            p[at, y] -= 1
            p = p.to(weight.dtype)
            if need[0]:
                torch.mm(p, weight, out=grad_h[s:s + rows])
            if need[1]:  # the first chunk writes the gradient, the others add to it
                torch.mm(p.t().float(), h.float(), out=grad_w) if s == 0 else grad_w.addmm_(p.t().float(), h.float())
            if need[2]:
                grad_b += p.float().sum(0)
        ctx.need = need
        ctx.save_for_backward(*(g for g in (grad_h, grad_w, grad_b) if g is not None))
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = iter(ctx.saved_tensors)
        # scaled in place: no second output-layer-sized buffer, and autograd can take it as .grad (a
        # retained graph's second backward fails autograd's saved-tensor version check instead)
        out = [next(saved).mul_(grad).to(dtype) if need else None for need, dtype in zip(ctx.need, ctx.dtypes)]
        return out[0], out[1], out[2], None, None, None


@functools.lru_cache(maxsize=None)
def _liger() -> object | None:
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return None
    return LigerFusedLinearCrossEntropyLoss(reduction="sum")


def kernel_loss(weight: torch.Tensor) -> object | None:
    """Liger's fused linear cross-entropy (Triton kernels) for an output layer on a CUDA GPU where
    ``liger-kernel`` is installed; None otherwise, and :class:`LinearCrossEntropy` does the work."""
    return _liger() if weight.device.type == "cuda" else None


def fusable(head: torch.nn.Module) -> bool:
    """Whether ``head`` is a plain ``nn.Linear`` whose weight :class:`LinearCrossEntropy` may read
    directly: no forward hooks (DeepSpeed ZeRO-3 gathers partitioned weights in one), no autocast
    (mixed precision decides the matmul dtype itself)."""
    return (type(head) is torch.nn.Linear and not head._forward_hooks and not head._forward_pre_hooks
            and not hasattr(head.weight, "ds_id") and not torch.is_autocast_enabled(head.weight.device.type))


# The decoder's cost for a row padded to length L, in "tokens": L * (1 + L / LENGTH_SCALE), since
# attention's per-token cost grows with L; each separate decoder call adds about GROUP_COST. Measured
# single-threaded on the tiny model (forward + backward: ~49 us per token + ~0.044 us per token and
# position, ~3 ms per call); they only choose how rows are grouped, never what is computed.
LENGTH_SCALE = 1024
GROUP_COST = 64


def length_groups(lengths: list[int]) -> list[list[int]]:
    """Rows of a batch in groups decoded separately, each padded only to its own longest row.

    Minimises the modelled decoder cost (``LENGTH_SCALE``, ``GROUP_COST``) over partitions of the
    rows sorted by length (longest first). Rows of similar length, like ``sample`` mode's
    length-grouped batches, stay in one group; the long, varied rows of ``dialogue`` mode come apart,
    which saves the padding's attention cost (quadratic in the length)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    longest = [lengths[i] for i in order]
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        for i in range(j):  # rows i..j-1 (sorted) in one group, padded to longest[i]
            c = best[i] + (j - i) * longest[i] * (1 + longest[i] / LENGTH_SCALE) + GROUP_COST
            if c < best[j]:
                best[j], cut[j] = c, i
    groups, j = [], len(order)
    while j:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def target_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over the target tokens, and their count, computing logits only there.

    The output layer is the costliest part of a small model (vocabulary x hidden per position) and
    in ``sample`` mode most positions are history without loss; projecting only the positions that
    predict a target token gives the same loss several times faster. The decoder runs on groups of
    rows of similar length (:func:`length_groups`), each cut to its longest row. Models whose
    decoder and output layer cannot be reached separately fall back to the full forward pass.
    ``batch`` must be right-padded (as :class:`~soulchat.train.data.Collator` pads).
    """
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
    ids, labels = batch["input_ids"], batch["labels"]
    mask = batch.get("attention_mask")
    lengths = mask.sum(1).tolist() if mask is not None else []
    # one group, as it is: a single row, no mask, or padding beyond the longest row asked for
    # (train.pad_to, the paper's recipe the benchmark measures)
    whole = len(lengths) < 2 or max(lengths) < ids.size(1)
    groups = [list(range(ids.size(0)))] if whole else length_groups(lengths)
    hidden, targets = [], []
    for rows in groups:
        if len(groups) == 1:
            g_ids, g_labels = ids, labels[:, 1:]
        else:
            width = max(lengths[r] for r in rows)
            index = torch.tensor(rows, device=ids.device)
            g_ids, g_labels = ids[index, :width], labels[index, 1:width]
        keep = g_labels != IGNORE
        hidden.append(decoder(input_ids=g_ids).last_hidden_state[:, :-1][keep])
        targets.append(g_labels[keep])
    hidden = hidden[0] if len(hidden) == 1 else torch.cat(hidden)
    targets = targets[0] if len(targets) == 1 else torch.cat(targets)
    n = torch.tensor(len(targets), device=ids.device)
    kernel = kernel_loss(head.weight) if fusable(head) else None
    if kernel is not None:
        total = kernel(head.weight, hidden, targets, head.bias)
    elif fusable(head):
        total = LinearCrossEntropy.apply(hidden, head.weight, head.bias, targets, chunk_rows(head.weight),
                                         torch.is_grad_enabled())
    else:
        total = torch.nn.functional.cross_entropy(head(hidden).float(), targets, reduction="sum")
    return total / n.clamp(min=1), n
