"""GPU memory of a training run, per GPU, before anything is launched: weights, gradients,
optimizer states and activations, for the chosen model, finetune, strategy, precision and batch.

Bytes per parameter follow the precision policy the stage applies (:mod:`soulchat.train.precision`).
With DeepSpeed in fp16/bf16 they are the ZeRO paper's (Rajbhandari et al., 2020, section 3 and
Figure 1): 2 bytes of half weights, 2 of half gradients and K = 12 of fp32 master weights, momentum
and variance per trainable parameter; ZeRO-1 shards the optimizer states over the N data-parallel
GPUs, ZeRO-2 the gradients too, ZeRO-3 the weights too; offloading moves the optimizer states (and,
with ZeRO-3, the weights) to the CPU. Lightning's ``*-mixed`` keeps fp32 trainable weights and
gradients (4 + 4 + 8 bytes), a frozen base in its loading dtype (``model.dtype``), and autocast's
half copy of each trainable weight (2 bytes) from forward to backward; ``*-true`` half: 2 + 2 + 4;
``32-true``: 4 + 4 + 8. The fused loss's fp32 output-layer gradient counts where it exists
(:func:`soulchat.train.precision.fused_head_gradient`). Activations follow Korthikanti
et al. (2022): ``s b h (34 + 5 a s / h)`` bytes per layer in half precision, without the attention
scores term when SDPA/FlashAttention does not keep them, and only each layer's input
(``2 s b h``) plus one layer's worth with gradient checkpointing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from soulchat.model.components import family
from soulchat.train import precision as policy

log = logging.getLogger(__name__)
GiB = 1024**3


@dataclass(frozen=True)
class Shape:
    """What the estimate needs of a model."""

    params: int
    trainable: int
    layers: int
    hidden: int
    heads: int
    vocab: int
    loaded_bytes: int = 4  # bytes per parameter of the checkpoint's dtype (model.dtype=auto)


@dataclass(frozen=True)
class Estimate:
    """Bytes per GPU (and on the CPU, for offloaded states)."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    cpu: float
    copies: float = 0.0  # autocast's half copies of fp32 trainable weights, forward to backward
    loss: float = 0.0  # the fused loss's fp32 output-layer gradient, forward to backward

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.copies + self.loss


def model_states(params: int, trainable: int, gpus: int, zero: int = 0, half: bool = True,
                 offload_optimizer: bool = False, offload_parameters: bool = False,
                 per: policy.ParamBytes | None = None) -> tuple[float, float, float, float]:
    """``(weights, gradients, optimizer, cpu)`` bytes per GPU for Adam; ``per``: bytes per parameter
    (:func:`soulchat.train.precision.bytes_per_param`), by default the ZeRO paper's mixed precision
    (``half``: 2 + 2 + K = 12) or fp32 (4 + 4 + 8)."""
    per = per or policy.bytes_per_param("16-mixed" if half else "32-true", True, 4)
    weights = (trainable * per.trainable + (params - trainable) * per.frozen) / (gpus if zero >= 3 else 1)
    grads = trainable * per.gradient / (gpus if zero >= 2 else 1)
    optimizer = trainable * per.optimizer / (gpus if zero >= 1 else 1)
    cpu = 0.0
    if offload_optimizer:
        cpu, optimizer = cpu + optimizer, 0.0
    if offload_parameters and zero >= 3:
        cpu, weights = cpu + weights, 0.0
    return weights, grads, optimizer, cpu


def activations(shape: Shape, micro_batch: int, seq: int, checkpointing: bool, flash: bool = True) -> float:
    """Bytes of activations kept for the backward pass of one micro-batch (half precision)."""
    s, b, h, a = seq, micro_batch, shape.hidden, shape.heads
    per_layer = s * b * h * (34 + (0 if flash else 5 * a * s / h))
    if checkpointing:
        return shape.layers * 2 * s * b * h + per_layer
    return shape.layers * per_layer


def estimate(cfg: Any, shape: Shape) -> Estimate:
    """The per-GPU estimate for a composed config and a model shape."""
    t, strategy = cfg.train, cfg.strategy
    gpus = int(t.devices) * int(t.num_nodes)
    deepspeed = "stage" in strategy
    precision = str(t.precision)
    dtype = str(cfg.model.get("dtype", "auto"))
    per = policy.bytes_per_param(precision, deepspeed, policy.DTYPE_BYTES.get(dtype, shape.loaded_bytes))
    weights, grads, optimizer, cpu = model_states(
        shape.params, shape.trainable, gpus, int(strategy.stage) if deepspeed else 0,
        offload_optimizer=bool(strategy.get("offload_optimizer", False)),
        offload_parameters=bool(strategy.get("offload_parameters", False)), per=per)
    # every trainable weight but the input embedding (a lookup) goes through autocast's matmuls
    cast = shape.trainable - (shape.vocab * shape.hidden if cfg.finetune.name == "full" else 0)
    copies = per.copy * max(0, cast)
    loss = 4.0 * shape.vocab * shape.hidden if policy.fused_head_gradient(cfg) else 0.0
    seq = int(cfg.corpus.max_input_tokens) + int(cfg.corpus.max_target_tokens)
    act = activations(shape, int(t.micro_batch_size), seq, bool(t.gradient_checkpointing))
    if precision.startswith("32"):
        act *= 2  # fp32 activations
    return Estimate(weights, grads, optimizer, act, cpu, copies, loss)


def shape_of(cfg: Any, shape_name: str | None = None) -> Shape:
    """The model's shape from ``--shape``, ``model.path``'s config.json, or the tiny model's settings;
    built on the meta device (no weights, no download)."""
    from soulchat.model import shapes

    m = cfg.model
    if shape_name:
        config = shapes.config_of(shape_name)
    elif m.get("path"):
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(m.path), local_files_only=True,
                                            trust_remote_code=bool(m.get("trust_remote_code", False)))
    elif "hidden_size" not in m:
        from soulchat.errors import ConfigError

        raise ConfigError(f"model={family(m)} has no model.path: give --shape ({', '.join(shapes.SHAPES)}) "
                          "or model.path for the memory plan")
    else:
        from transformers import GlmConfig

        config = GlmConfig(vocab_size=int(m.tokenizer.vocab_size) + 8, hidden_size=m.hidden_size,
                           intermediate_size=m.intermediate_size, num_hidden_layers=m.num_layers,
                           num_attention_heads=m.num_heads, num_key_value_heads=m.num_kv_heads,
                           head_dim=m.hidden_size // m.num_heads, pad_token_id=0, tie_word_embeddings=False)
    model = shapes.meta_model(config)
    lora = cfg.finetune.name == "lora"
    targets = list(cfg.finetune.get("target_modules") or m.lora_targets) if lora else None
    params, trainable = shapes.count(model, targets, int(cfg.finetune.get("r", 8)))
    loaded = str(getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32")
    return Shape(params, trainable, config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                 config.vocab_size, policy.DTYPE_BYTES.get(loaded.removeprefix("torch."), 4))


def deepspeed_estimate(cfg: Any, shape: Shape) -> float | None:
    """DeepSpeed's own estimate of the model states per GPU (bytes), where it has one."""
    strategy = cfg.strategy
    if "stage" not in strategy or int(strategy.stage) not in (2, 3):
        return None
    try:
        if int(strategy.stage) == 2:
            from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

            _, gpu = estimate_zero2_model_states_mem_needs(
                shape.params, num_gpus_per_node=int(cfg.train.devices), num_nodes=int(cfg.train.num_nodes),
                cpu_offload=bool(strategy.offload_optimizer), additional_buffer_factor=1.0)
        else:
            from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

            largest = shape.vocab * shape.hidden  # the largest layer: the embedding
            _, gpu, _ = estimate_zero3_model_states_mem_needs(
                shape.params, largest, num_gpus_per_node=int(cfg.train.devices), num_nodes=int(cfg.train.num_nodes),
                cpu_offload=bool(strategy.offload_optimizer), cpu_offload_params=bool(strategy.offload_parameters),
                zero_init=True, additional_buffer_factor=1.0)
    except Exception as exc:  # an optional cross-check: DeepSpeed absent or its API moved
        log.debug("no DeepSpeed estimate: %s", exc)
        return None
    return float(gpu)


def gpu_memory_gb(cfg: Any) -> float | None:
    """``train.gpu_memory_gb``, else the memory of the first visible CUDA GPU when training on one."""
    if cfg.train.get("gpu_memory_gb"):
        return float(cfg.train.gpu_memory_gb)
    if str(cfg.train.accelerator) in ("gpu", "cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(0).total_memory / GiB
    return None


def report(cfg: Any, shape: Shape, gpu_gb: float | None) -> tuple[str, dict[str, Any]]:
    """The table of the estimate, a warning line when it does not fit ``gpu_gb``, and the same as a dict."""
    est = estimate(cfg, shape)
    ds = deepspeed_estimate(cfg, shape) if shape.params > 0 else None
    rows = [("weights", est.weights), ("gradients", est.gradients), ("optimizer states", est.optimizer),
            ("activations (one micro-batch)", est.activations)]
    rows += [(name, value) for name, value in (("autocast half weight copies", est.copies),
                                                ("fused loss fp32 head gradient", est.loss)) if value]
    rows.append(("total per GPU", est.total))
    lines = [f"memory per GPU: {shape.params / 1e9:.2f}B parameters, {shape.trainable / 1e6:.1f}M trainable "
             f"({cfg.finetune.name}), {cfg.strategy.name}, precision {cfg.train.precision}, micro-batch "
             f"{cfg.train.micro_batch_size} x {int(cfg.corpus.max_input_tokens) + int(cfg.corpus.max_target_tokens)} tokens"
             + (", gradient checkpointing" if cfg.train.gradient_checkpointing else "")]
    lines += [f"  {name:<31} {value / GiB:8.2f} GiB" for name, value in rows]
    if est.cpu:
        lines.append(f"  {'offloaded to CPU':<31} {est.cpu / GiB:8.2f} GiB")
    if ds is not None:
        lines.append(f"  {'DeepSpeed estimator (states)':<31} {ds / GiB:8.2f} GiB")
    fits = gpu_gb is None or est.total <= gpu_gb * GiB
    if not fits:
        lines.append(f"WARNING: {est.total / GiB:.1f} GiB per GPU does not fit the {gpu_gb:g} GiB GPU "
                     "(train.gpu_memory_gb): try train.gradient_checkpointing=true, a smaller "
                     "train.micro_batch_size, strategy=deepspeed_zero3, or offloading")
    info = {"shape": asdict(shape), "bytes": {**asdict(est), "total": est.total}, "deepspeed_states": ds,
            "gpu_memory_gb": gpu_gb, "fits": fits}
    return "\n".join(lines), info
