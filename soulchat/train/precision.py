"""Which dtype each parameter has while training: the policy behind ``train.precision``.

``model.dtype`` is the *loading* dtype (bf16 for Qwen2.5, GLM-4 and Llama-3, as published); it is not
what the optimizer steps. The train stage applies, after the model and finetune are built:

- ``bf16-mixed`` / ``16-mixed`` (Lightning's autocast, no DeepSpeed): trainable parameters become fp32
  master weights (AdamW's updates below bf16's resolution would otherwise round away); autocast
  computes in half from them. A frozen base (LoRA) keeps its loading dtype, as is standard.
- ``32-true``: every parameter fp32.
- ``bf16-true`` / ``16-true``: Lightning casts the whole model to that dtype and AdamW keeps its
  states in it: pure low precision, chosen explicitly.
- DeepSpeed with fp16/bf16 (from ``*-mixed`` or ``*-true``): the engine casts every parameter to half
  and its ZeRO optimizer keeps an fp32 master copy; nothing is cast here.

The exported ``hf/`` folder is saved in the loading dtype (the trained fp32 weights rounded once).
:func:`bytes_per_param` is the same policy in bytes for the memory plan (:mod:`soulchat.train.memory`).
Kept free of a torch import at module level: ``soulchat.validate`` reads :func:`conflicts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soulchat.errors import ConfigError

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def is_mixed(precision: str) -> bool:
    return str(precision).endswith("-mixed")


def is_half(precision: str) -> bool:
    return str(precision).startswith(("16", "bf16"))


def conflicts(cfg: Any) -> list[str]:
    """Contradictory precision settings of a composed config, one line each (empty: fine).

    fp16 (``16-mixed`` / ``16-true``) with bf16 weights: fp16's range ends at 65,504, which bf16
    models' weights and activations exceed (DeepSpeed and autocast would cast them to fp16)."""
    t, m = cfg.get("train"), cfg.get("model")
    if t is None or m is None:
        return []
    precision, dtype = str(t.get("precision", "")), str(m.get("dtype", "auto"))
    if precision.startswith("16") and dtype == "bfloat16":
        return [f"train.precision={precision} with model.dtype=bfloat16: fp16 overflows on bf16 weights and "
                "activations; use train.precision=bf16-mixed (or model.dtype=float32)"]
    return []


def apply(model: Any, cfg: Any) -> Any:
    """Cast ``model``'s parameters in place to the policy's dtypes (module docstring) and return it.

    Raises:
        ConfigError: fp16 precision on parameters loaded in bf16 (``model.dtype=auto`` and a bf16
            checkpoint; an explicit ``model.dtype=bfloat16`` fails at compose time already).
    """
    import torch

    from soulchat.model.components import family
    from soulchat.train.plan import uses_deepspeed

    precision, deepspeed = str(cfg.train.precision), uses_deepspeed(cfg.strategy)
    if precision.startswith("16") and any(p.dtype == torch.bfloat16 for p in model.parameters()):
        raise ConfigError(f"train.precision={precision}: model={family(cfg.model)} loaded "
                          "bf16 weights (model.dtype=auto); fp16 overflows on them: use train.precision=bf16-mixed")
    if precision == "32-true":
        model.float()
    elif is_mixed(precision) and not deepspeed:
        for p in model.parameters():
            if p.requires_grad and p.is_floating_point() and p.dtype != torch.float32:
                p.data = p.data.float()  # in place: tied weights stay one tensor
    return model


@dataclass(frozen=True)
class ParamBytes:
    """Bytes per parameter while training."""

    trainable: int  # a trainable parameter's weight (the fp32 master where there is one)
    frozen: int  # a frozen parameter's weight (LoRA's base)
    gradient: int  # per trainable parameter
    optimizer: int  # per trainable parameter: Adam's two moments (+ DeepSpeed's fp32 master copy)
    copy: int  # autocast's half copy of an fp32 trainable weight, held from forward to backward


def bytes_per_param(precision: str, deepspeed: bool, loaded: int) -> ParamBytes:
    """The policy in bytes; ``loaded``: bytes of the loading dtype (``model.dtype``)."""
    if deepspeed and is_half(precision):  # the ZeRO paper's accounting: 2 + 2 + K = 12
        return ParamBytes(2, 2, 2, 12, 0)
    if is_mixed(precision):
        return ParamBytes(4, loaded, 4, 8, 2)
    if is_half(precision):
        return ParamBytes(2, 2, 2, 4, 0)
    return ParamBytes(4, 4, 4, 8, 0)


def fused_head_gradient(cfg: Any) -> bool:
    """Whether the fused loss (:class:`soulchat.train.loss.LinearCrossEntropy`) holds an fp32 gradient of
    the output layer from forward to backward: the head is trained (full fine-tune), no autocast (not
    ``*-mixed`` without DeepSpeed) and not ZeRO-3 (which gathers the head in a hook: unfused)."""
    from soulchat.train.plan import uses_deepspeed

    precision, deepspeed = str(cfg.train.precision), uses_deepspeed(cfg.strategy)
    if cfg.finetune.name != "full" or (is_mixed(precision) and not deepspeed):
        return False
    return not (deepspeed and int(cfg.strategy.stage) >= 3)
