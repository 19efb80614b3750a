"""PyTorch attention backends for variable-length work (training with dynamic padding, sampling).

PyTorch's SDPA prefers cuDNN's attention for bf16/fp16 on recent GPUs. cuDNN builds an execution
graph for every new input shape, which took 90-810 ms per shape on an H200 (PyTorch 2.11, cuDNN
9.19; ``docs/train.md``). Dynamic padding makes nearly every training micro-batch a new shape, and
sampling with a KV cache makes every decoding step one, so the stages switch it off while they run;
FlashAttention and the memory-efficient kernel take any length with no set-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def cudnn_attention(enabled: bool) -> Iterator[None]:
    """SDPA's cuDNN backend on or off inside the block; the process-wide flag is restored after."""
    import torch

    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(bool(enabled))
    try:
        yield
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
