"""``finetune`` components: what of the base model is trained, and how it is merged back.

A factory takes ``(cfg, model, target_modules)`` and returns the trainable module;
:func:`merged` turns a trained one back into a plain ``PreTrainedModel`` for export.
"""

from __future__ import annotations

from typing import Any

from soulchat.errors import ConfigError


def full(cfg: Any, model: Any, target_modules: list[str] | None = None) -> Any:
    """Train every weight."""
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def lora(cfg: Any, model: Any, target_modules: list[str] | None = None) -> Any:
    """Wrap ``model`` with LoRA adapters (peft) on ``cfg.target_modules`` or the model's targets.

    Raises:
        ValueError: no target modules declared, or none of them exists in the model.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    targets = list(cfg.target_modules or target_modules or [])
    if not targets:
        raise ConfigError("finetune=lora needs target modules: set finetune.target_modules=[...] "
                         "or the model's lora_targets")
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if len(missing) == len(targets):
        raise ConfigError(f"finetune=lora: none of the target modules {targets} exists in "
                         f"{type(model).__name__}; its modules include {sorted(names)[:20]}")
    peft_cfg = LoraConfig(task_type=TaskType.CAUSAL_LM, r=cfg.r, lora_alpha=cfg.alpha,
                          lora_dropout=cfg.dropout, target_modules=targets)
    return get_peft_model(model, peft_cfg)


def merged(model: Any) -> Any:
    """The plain model with any LoRA adapter merged into its weights."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def trainable_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
