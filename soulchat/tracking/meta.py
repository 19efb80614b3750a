"""What a run is described by in MLflow: its tags and its curated, flat params.

Tags say *which* run this is (experiment, the chosen option of every config group, scale, git
state, swept values); params say *what* was done: every scalar leaf of the stage sections and
component groups, flat (``train.lr``, ``prompt.name``), with long texts (prompt templates) replaced
by a short hash so they stay comparable without becoming noise, and operational settings
(:data:`SKIP_LEAVES`: retries, rate limits, batch sizes of inference, checkpoint cadence) left out.
The full resolved config is an artifact (``config/resolved.yaml``), not params.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from omegaconf import DictConfig, OmegaConf

from soulchat.io import stable_hash
from soulchat.tracking.tracker import git_state

#: top-level config sections that are about where things go, not what is done
NOT_PARAMS = ("paths", "tracking", "hydra", "experiment")
#: leaves that change speed, cost, retries or bookkeeping, never the results: not params
SKIP_LEAVES = frozenset({
    "force", "dry_run", "export", "device", "sort_by_length", "batch_size", "concurrency",
    "backoff_s", "max_backoff_s", "max_retries", "timeout_s", "rpm", "tpm", "max_requests", "max_cost",
    "max_total_tokens", "prices_per_1k", "store", "recorded", "api_key_env",
    "checkpoint_every_n_steps", "val_every_n_steps", "val_max_samples",
    "charts", "top_words", "wordfreq_utterances",
})
LONG_TEXT = 250


def choice_tags(choices: Mapping[str, Any]) -> dict[str, str]:
    """``choice.<group>`` for every config group's chosen option (Hydra's runtime choices)."""
    tags = {}
    for group, option in choices.items():
        if group.startswith(("hydra/", "schema/")) or group in ("soulchat_schema",):
            continue
        tags[f"choice.{group}"] = str(option)
    tags["experiment"] = str(choices.get("experiment") or "default")
    tags["scale"] = str(choices.get("scale"))
    return tags


def job_tags(cfg: DictConfig, hydra_cfg: DictConfig | None = None) -> dict[str, str]:
    """Tags for a job's run: stages, experiment, every group's option, scale, git commit and dirty flag.

    ``hydra_cfg`` is the ``hydra`` node (default: the running app's, when Hydra is initialised).
    """
    hydra_cfg = hydra_cfg if hydra_cfg is not None else _running_hydra()
    tags = {"soulchat.stages": ",".join(str(getattr(s, "value", s)) for s in cfg.stages)}
    if hydra_cfg is not None:
        tags.update(choice_tags(hydra_cfg.runtime.choices))
        tags["soulchat.role"] = "job"
        if hydra_cfg.mode is not None and str(hydra_cfg.mode).endswith("MULTIRUN"):
            tags["sweep.job_num"] = str(hydra_cfg.job.num)
        overrides = list(hydra_cfg.overrides.task)
        if overrides:
            tags["overrides"] = " ".join(overrides)
    tags.update(git_state())
    return tags


def _running_hydra() -> DictConfig | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The curated params of a run (see the module docstring), as strings."""
    container = OmegaConf.to_container(cfg, resolve=True)
    params: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in SKIP_LEAVES:
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, list) and all(not isinstance(v, (dict, list)) for v in node):
            params[prefix] = ",".join(str(getattr(v, "value", v)) for v in node)
        elif isinstance(node, list):
            params[f"{prefix}_sha"] = stable_hash(node, 12)
        elif isinstance(node, str) and len(node) > LONG_TEXT:
            params[f"{prefix}_sha"] = stable_hash(node, 12)
        else:
            params[prefix] = str(getattr(node, "value", node))

    walk("", {k: v for k, v in container.items() if k not in NOT_PARAMS})
    return params


def sweep_keys(overrides: Iterable[str], sweeper_params: Mapping[str, Any] | None = None) -> list[str]:
    """The config keys a sweep varies: sweep overrides (``a=1,2``, ``range()``, ``choice()``,
    ``interval()``) on the command line and in ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = list(overrides) + [f"{k}={v}" for k, v in (sweeper_params or {}).items()]
    parsed = OverridesParser.create().parse_overrides(lines)
    keys = []
    for o in parsed:
        if o.is_sweep_override() and not o.key_or_group.startswith("hydra."):
            if o.key_or_group not in keys:
                keys.append(o.key_or_group)
    return keys


def override_values(overrides: Iterable[str]) -> dict[str, str]:
    """``key -> value`` of a job's overrides (``+experiment=x`` -> ``experiment: x``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return {o.key_or_group: o.get_value_element_as_str()
            for o in OverridesParser.create().parse_overrides(list(overrides))
            if not o.is_delete()}
