"""What a new sequence length costs each PyTorch SDPA backend on a GPU (why the stages turn cuDNN off).

PyTorch prefers cuDNN's attention for bf16/fp16 on recent GPUs; cuDNN builds an execution graph per
input shape. Dynamic padding gives most training micro-batches a new shape and sampling with a KV
cache gives every decoding step one (``soulchat.model.attention``). For each backend this times
forward + backward of one SDPA call at 12 lengths never seen before, then at the same 12 again, and
names the kernels that ran; then decoding steps (query length 1) at new key lengths.

    python benchmarks/attention_bench.py        (needs a CUDA GPU; bf16)
"""

from __future__ import annotations

import contextlib
import random
import sys
import time


def main() -> None:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU: cuDNN's attention exists only there")
    dev, dtype = "cuda", torch.bfloat16
    rng = random.Random(0)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, cuDNN {torch.backends.cudnn.version()}, "
          f"cuDNN attention enabled by default: {torch.backends.cuda.cudnn_sdp_enabled()}")

    def run(lengths, backends=None, heads=4, dim=32, decode=False, mask=False, grad=True) -> float:
        """Mean milliseconds per call over ``lengths``."""
        ctx = sdpa_kernel(backends) if backends else contextlib.nullcontext()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with ctx:
            for n in lengths:
                q = torch.randn(8, heads, 1 if decode else n, dim, device=dev, dtype=dtype, requires_grad=grad)
                k = torch.randn(8, heads, n, dim, device=dev, dtype=dtype, requires_grad=grad)
                v = torch.randn(8, heads, n, dim, device=dev, dtype=dtype, requires_grad=grad)
                m = None
                if mask:  # left padding in row 0, as batched sampling has
                    m = torch.ones(8, 1, q.shape[2], n, device=dev, dtype=torch.bool).tril(n - q.shape[2])
                    m[0, :, :, :3] = False
                o = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=not decode and not mask)
                if grad:
                    o.float().sum().backward()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / len(lengths) * 1e3

    def kernels(**kw) -> list[str]:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as p:
            run([333], **kw)
        keys = ("fmha", "flash", "cudnn", "attention", "sdpa")
        return sorted({e.key[:60] for e in p.key_averages() if any(s in e.key.lower() for s in keys)})[:2]

    no_cudnn = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    backends = (("default", None), ("no cuDNN", no_cudnn), ("cuDNN only", [SDPBackend.CUDNN_ATTENTION]))
    run([64])  # CUDA context and library start-up
    for dim, heads in ((32, 4), (128, 8)):
        for mask in (False, True):
            print(f"\nhead_dim {dim}, {heads} heads, {'explicit mask' if mask else 'is_causal'}: fwd + bwd, ms a call "
                  "(12 new lengths | the same 12 again)")
            fresh = rng.sample(range(100, 2048), 12)
            for shift, (label, be) in enumerate(backends):
                lengths = [n + 7 * shift for n in fresh]  # new to this backend too
                try:
                    first = run(lengths, be, heads, dim, mask=mask)
                    again = run(lengths, be, heads, dim, mask=mask)
                    print(f"  {label:<11}{first:9.2f} | {again:6.2f}   {kernels(backends=be, heads=heads, dim=dim, mask=mask)}")
                except RuntimeError as e:  # a backend that cannot take these inputs
                    print(f"  {label:<11}not available: {str(e).splitlines()[0][:100]}")
    print("\ndecoding: query length 1, explicit mask, no grad; ms a step at 12 new key lengths | the same again")
    for label, be in backends[:2]:
        lengths = rng.sample(range(100, 2048), 12)
        first = run(lengths, be, 8, 128, decode=True, mask=True, grad=False)
        again = run(lengths, be, 8, 128, decode=True, mask=True, grad=False)
        print(f"  {label:<11}{first:9.2f} | {again:6.2f}")


if __name__ == "__main__":
    main()
