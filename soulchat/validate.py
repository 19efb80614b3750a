"""Impossible settings fail right after the config is composed, before any stage starts, naming the
key and the allowed range: a typo added with ``+``, a probability above 1, more warm-up steps than
steps, a batch that does not divide, a GPU asked for where there is none."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator

from omegaconf import DictConfig, OmegaConf

from soulchat.errors import ConfigError
from soulchat.train.precision import conflicts as precision_conflicts

#: Lightning's precision settings (named with dashes, so a plain string checked here, not an Enum)
PRECISIONS = {"32-true", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine"}

PROBABILITY = (lambda v: 0 < v <= 1, "a probability in (0, 1]")


def at_least(low: float, note: str = "", optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    """A lower bound (``optional``: null, meaning all, allowed too) and how it reads in the error."""
    text = f">= {low:g}" + (" or null (all)" if optional else "") + (f" ({note})" if note else "")
    return (lambda v: (optional and v is None) or v >= low), text


#: key -> (test, what is allowed); a key absent from the config (another component) is skipped
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "generate.top_p": PROBABILITY,
    "generate.temperature": (lambda v: v > 0, "> 0"),
    "generate.top_k": at_least(0, "0: top-p only"),
    "generate.max_new_tokens": at_least(1),
    "generate.batch_size": at_least(1),
    "generate.max_samples": at_least(1, optional=True),
    "endpoint.top_p": PROBABILITY,
    "endpoint.temperature": (lambda v: 0 <= v <= 2, "in [0, 2]"),
    "endpoint.max_tokens": at_least(1),
    "endpoint.timeout_s": (lambda v: v > 0, "> 0 seconds"),
    "endpoint.max_retries": at_least(0),
    "rewrite.concurrency": at_least(1, "requests in flight"),
    "rewrite.max_attempts": at_least(1),
    "rewrite.limit": at_least(1, optional=True),
    "generator.concurrency": at_least(1, "requests in flight"),
    "judge.concurrency": at_least(1, "requests in flight"),
    "train.max_steps": at_least(1),
    "train.micro_batch_size": at_least(1),
    "train.global_batch_size": at_least(1),
    "train.precision": (lambda v: str(v) in PRECISIONS, f"one of {', '.join(sorted(PRECISIONS))} (Lightning's)"),
    "train.lr": at_least(0, "0: the untrained baseline"),
    "train.warmup_steps": at_least(0),
    "train.weight_decay": at_least(0),
    "train.devices": at_least(1),
    "train.num_nodes": at_least(1),
    "train.length_group": at_least(1),
    "train.val_every_n_steps": at_least(1),
    "train.checkpoint_every_n_steps": at_least(1),
    "train.val_max_samples": at_least(1, optional=True),
    "corpus.max_input_tokens": at_least(2),
    "corpus.max_target_tokens": at_least(2, "a token and eos"),
    "corpus.max_history_turns": at_least(0, optional=True),
    "corpus.val_size": at_least(0, "< 1: a fraction; >= 1: a count"),
    "corpus.test_size": at_least(0, "< 1: a fraction; >= 1: a count"),
    "evaluate.judge_samples": at_least(0),
}


def unknown_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Keys of schema-typed sections that their schema does not have (``+train.lrr=0.1``)."""
    if not isinstance(node, DictConfig):
        return
    schema = OmegaConf.get_type(node)
    known = {f.name for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else None
    for key in node:
        path = f"{prefix}{key}"
        if known is not None and key not in known:
            yield f"{path}: no such setting in {schema.__name__} (a typo?); its settings: {', '.join(sorted(known))}"
        elif not OmegaConf.is_missing(node, key) and OmegaConf.is_config(node._get_node(key)):
            yield from unknown_keys(node[key], f"{path}.")


def problems(cfg: DictConfig) -> list[str]:
    """Every impossible setting of a composed config, one line each (empty: fine)."""
    found = list(unknown_keys(cfg))
    found += _unknown_stages(cfg)
    for key, (ok, allowed) in RANGES.items():
        value = OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=False)
        if value == "<absent>" or isinstance(value, DictConfig):
            continue
        try:
            good = ok(value)
        except TypeError:
            good = False
        if not good:
            found.append(f"{key}={value}: must be {allowed}")
    train = cfg.get("train")
    if train is not None and not found:
        if train.warmup_steps > train.max_steps:  # the learning rate would never reach its peak
            found.append(f"train.warmup_steps={train.warmup_steps} must be at most train.max_steps={train.max_steps}")
        per_step = train.micro_batch_size * train.devices * train.num_nodes
        if train.global_batch_size % per_step:
            found.append(f"train.global_batch_size={train.global_batch_size} must be a multiple of "
                         f"train.micro_batch_size x devices x num_nodes = {per_step}")
        if str(train.accelerator) in ("gpu", "cuda") and not train.dry_run and _wants_training(cfg) \
                and not _gpu_present():
            found.append(f"train.accelerator={train.accelerator}: no CUDA GPU is visible on this machine "
                         "(torch.cuda.is_available() is False); use train.accelerator=cpu or auto")
        found += precision_conflicts(cfg)
    return found


def _unknown_stages(cfg: DictConfig) -> list[str]:
    from soulchat.pipeline import stages

    names = [str(s) for s in cfg.get("stages") or ()]
    bad = [s for s in names if s not in stages()]
    return [f"stages={names}: unknown stage(s) {bad}; registered: {', '.join(stages())}"] if bad else []


def _wants_training(cfg: DictConfig) -> bool:
    from soulchat.pipeline import needed

    return "train" in needed([str(s) for s in cfg.get("stages") or ()], cfg)


def _gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def check(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every impossible setting of ``cfg``."""
    found = problems(cfg)
    if found:
        raise ConfigError("; ".join(found))
