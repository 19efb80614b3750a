"""Which model ``soulchat chat`` / ``soulchat serve`` talk with, and the settings it was trained with.

``chat.model`` (or the first plain word on the command line) is a Hugging Face folder (train's
``hf/`` or a copy), a train stage folder (its ``hf/`` is used), or an MLflow run id (its
``stage.train.path`` tag). Unset: the newest run folder under ``paths.outputs`` (``runs/`` and
``multirun/``, by ``run.json``) whose train stage has finished, i.e. the model of the latest
``make run`` / ``python -m soulchat``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig

from soulchat.errors import ConfigError, MissingInput

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def compose(argv: Sequence[str], command: str) -> tuple[DictConfig, str | None]:
    """The root config composed with the ``key=value`` words of ``argv``, and the model word if any.

    Raises:
        ConfigError: more than one plain word, or an option starting with ``-`` (names the word).
    """
    from hydra.errors import HydraException, OverrideParseException

    from soulchat.config import compose as compose_config
    from soulchat.tracking.secrets import refuse_secret_overrides
    from soulchat.tracking.store import split_overrides

    overrides, rest = split_overrides(argv)
    if len(rest) > 1 or any(r.startswith("-") for r in rest):
        raise ConfigError(f"unexpected {rest}; usage: soulchat {command} [MODEL] [key=value ...] "
                          "(MODEL: a trained folder or an MLflow run id)")
    refuse_secret_overrides(overrides)
    try:
        cfg = compose_config(overrides)
    except HydraException as exc:  # a mistyped key, or text Hydra wants quoted ('key="你好"')
        hint = " (quote values with spaces or non-ASCII text: 'chat.disclosure=\"...\"')" \
            if isinstance(exc, OverrideParseException) else ""
        raise ConfigError(f"{str(exc).splitlines()[0]}{hint}") from None
    return cfg, (rest[0] if rest else None)


def _hf(folder: Path) -> Path | None:
    for cand in (folder, folder / "hf"):
        if (cand / "config.json").exists():
            return cand
    return None


def latest_run_model(outputs: Path) -> Path:
    """The ``hf/`` folder of the newest run under ``outputs`` whose train stage has finished.

    Raises:
        MissingInput: no run has a trained model (says how to make one).
    """
    runs = sorted(list(outputs.glob("runs/*/*/run.json")) + list(outputs.glob("multirun/*/*/*/run.json")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for run in runs:
        try:
            train = json.loads(run.read_text(encoding="utf-8")).get("cache", {}).get("train")
        except (OSError, json.JSONDecodeError):
            continue
        if train and (found := _hf(Path(train))) is not None:
            return found
    raise MissingInput(f"no trained model under {outputs} (no run.json there names a finished train stage): "
                       "train one with `make run` (or `python -m soulchat stages=[train]`), or name a model: "
                       "soulchat chat <folder | MLflow run id>")


def mlflow_run_model(cfg: DictConfig, run_id: str) -> Path:
    """The ``hf/`` folder recorded by MLflow run ``run_id`` (its ``stage.train.path`` tag).

    Raises:
        MissingInput: the run is unknown, trained nothing, or its folder is gone.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from soulchat.tracking.tracker import store_location

    uri, _ = store_location(cfg.tracking)
    try:
        tags = MlflowClient(uri).get_run(run_id).data.tags
    except MlflowException as exc:
        raise MissingInput(f"MLflow run {run_id} not found in {uri}: {str(exc).splitlines()[0]}") from None
    path = tags.get("stage.train.path")
    if not path:
        raise MissingInput(f"MLflow run {run_id} has no train stage (tag stage.train.path missing)")
    found = _hf(Path(path))
    if found is None:
        raise MissingInput(f"MLflow run {run_id}: its model folder {path}/hf is gone (the cache was cleaned?); "
                           "re-run that run's command to rebuild it")
    return found


def resolve_model(cfg: DictConfig, spec: str | None = None) -> Path:
    """The Hugging Face folder named by ``spec`` (else ``chat.model``, else the latest run's).

    Raises:
        MissingInput: nothing loadable there (names the path and what is missing).
    """
    spec = spec or cfg.chat.model
    if spec is None:
        return latest_run_model(Path(cfg.paths.outputs))
    path = Path(spec).expanduser()
    if path.exists():
        found = _hf(path)
        if found is None:
            raise MissingInput(f"{path}: no Hugging Face model there (config.json missing in it and in {path}/hf)")
        return found
    if _RUN_ID.match(spec):
        return mlflow_run_model(cfg, spec)
    raise MissingInput(f"chat.model={spec!r}: neither a folder nor an MLflow run id (32 hex digits)")


def input_budget(model_dir: Path, cfg: DictConfig) -> tuple[int | None, int | None]:
    """``(max_input_tokens, max_history_turns)`` the model was trained with: from its export's
    :data:`FORMAT_FILE`, else the config's ``corpus.*`` (a folder exported elsewhere)."""
    from soulchat.corpus.format import FORMAT_FILE

    meta_file = Path(model_dir) / FORMAT_FILE
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        return meta.get("max_input_tokens"), meta.get("max_history_turns")
    return int(cfg.corpus.max_input_tokens), cfg.corpus.max_history_turns


def load_engine(cfg: DictConfig, spec: str | None, max_batch_size: int, process: bool = False) -> Any:
    """An :class:`soulchat.chat.engine.Engine` for the resolved model; ``process``: in a process of its
    own (:class:`soulchat.serve.worker.EngineProcess`, the server's)."""
    from omegaconf import OmegaConf

    if process:
        from soulchat.serve.worker import EngineProcess as Engine
    else:
        from soulchat.chat.engine import Engine

    model_dir = resolve_model(cfg, spec)
    max_in, max_hist = input_budget(model_dir, cfg)
    return Engine(model_dir, max_in, max_hist, max_batch_size, int(cfg.seed), cfg.chat.device, cfg.chat.dtype,
                  bool(OmegaConf.select(cfg, "model.trust_remote_code", default=False)))


def sampling(cfg: DictConfig, **overrides: Any) -> Any:
    """The paper's sampling from ``generate.*`` (top-p 0.75, temperature 0.95), ``overrides`` applied."""
    from soulchat.chat.engine import Sampling

    g = cfg.generate
    base = {"max_new_tokens": int(g.max_new_tokens), "temperature": float(g.temperature),
            "top_p": float(g.top_p), "top_k": int(g.top_k)}
    base.update({k: v for k, v in overrides.items() if v is not None})
    if base["max_new_tokens"] < 1:
        raise ConfigError(f"max_new_tokens={base['max_new_tokens']}: must be >= 1")
    return Sampling(**base)
