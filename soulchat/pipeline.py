"""The staged pipeline: rewrite → corpus → train → generate → evaluate.

Each stage is a function ``run(ctx: StageContext) -> dict[str, float]`` in
``soulchat/<stage>/stage.py``. It reads its inputs (upstream stages' output folders in
``ctx.inputs``) and writes its outputs into ``ctx.out``; the metrics it returns are logged to MLflow
as ``<stage>/<metric>``.

A finished stage's output folder is stored under ``<paths.cache>/<stage>/<key>/`` where ``key``
hashes the stage's own config (:data:`STAGES` says which config sections belong to it), the
contents of the input files it names, the source code it runs (its packages under ``soulchat/``)
and its inputs' keys. Re-running, or a sweep that varies only evaluation, reuses finished upstream stages.
While it runs, a stage writes into ``<key>.partial/`` (the same folder on every attempt, so long
stages resume where they stopped); only a stage that returned normally is renamed to ``<key>/`` with
a ``_SUCCESS.json`` marker, so a half-written output is never taken as finished.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

#: bump when a stage's output layout changes, so old cache entries are not reused
CACHE_VERSION = 1
MARKER = "_SUCCESS.json"


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: where its function lives, what it reads, which config makes its key."""

    name: str
    run: str | Callable[["StageContext"], dict[str, float]]  # "module:function" or the function
    inputs: Callable[[DictConfig], tuple[str, ...]]
    config_keys: tuple[str, ...]
    files: Callable[[DictConfig], tuple[Any, ...]] = lambda c: ()  # input files: their content is keyed too
    # the code it runs: packages/modules under soulchat/ (or absolute paths); their sources are keyed
    code: tuple[str, ...] = ()


def _corpus_inputs(cfg: DictConfig) -> tuple[str, ...]:
    return ("rewrite",) if cfg.corpus.source == "rewrite" else ()


def _generate_inputs(cfg: DictConfig) -> tuple[str, ...]:
    # an API model (the paper's ChatGPT column) needs no fine-tuned weights
    return ("corpus", "train") if cfg.generator.get("uses_trained_model", True) else ("corpus",)


def _corpus_files(cfg: DictConfig) -> tuple[Any, ...]:
    return () if cfg.corpus.source == "rewrite" else (cfg.corpus.source,)


#: In pipeline order. ``config_keys`` are top-level config sections (dotted paths allowed).
STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("rewrite", "soulchat.rewrite.stage:run", lambda c: (), ("rewrite", "prompt", "endpoint"),
              lambda c: (c.rewrite.source,), ("rewrite", "llm", "io.py")),
        Stage("corpus", "soulchat.corpus.stage:run", _corpus_inputs, ("corpus", "topic", "model.tokenizer"),
              _corpus_files, ("corpus", "model/tokenizer.py", "io.py")),
        Stage("train", "soulchat.train.stage:run", lambda c: ("corpus",), ("train", "model", "finetune", "strategy", "seed"),
              code=("train", "model", "io.py")),
        Stage("generate", "soulchat.generate.stage:run", _generate_inputs, ("generate", "generator", "seed"),
              lambda c: (c.generate.test_file,), ("generate", "model", "llm", "io.py")),
        Stage("evaluate", "soulchat.evaluate.stage:run", lambda c: ("generate",), ("evaluate", "metric_set", "judge"),
              lambda c: (*(c.evaluate.get("extra_predictions") or ()), c.evaluate.human.get("ratings")),
              ("evaluate", "llm", "io.py")),
    )
}


@dataclass
class StageContext:
    """What a stage function gets.

    Attributes:
        name: the stage's name.
        cfg: the whole composed config (read your own section, ``cfg.<name>``).
        out: the folder to write outputs into (``<key>.partial`` while running).
        inputs: upstream stage name -> its finished output folder.
        key: this stage's cache key.
        run_dir: the Hydra run directory (for human-facing reports and copies).
        tracker: :class:`soulchat.tracking.Tracker` (log_metrics / log_artifact / log_params).
    """

    name: str
    cfg: DictConfig
    out: Path
    inputs: dict[str, Path]
    key: str
    run_dir: Path
    tracker: Any = None
    resumed: bool = False


@dataclass
class StageResult:
    name: str
    key: str
    path: Path
    metrics: dict[str, float]
    cached: bool
    seconds: float = 0.0


@dataclass
class Plan:
    """The keys and folders of every stage, computed before anything runs."""

    keys: dict[str, str] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def _select(cfg: DictConfig, dotted: str) -> Any:
    node = OmegaConf.select(cfg, dotted, throw_on_missing=False)
    if isinstance(node, DictConfig) or OmegaConf.is_list(node):
        node = OmegaConf.to_container(node, resolve=True)
    return node


def _strip_force(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_force(v) for k, v in obj.items() if k != "force"}
    return obj


def _file_paths(obj: Any) -> list[str]:
    """Paths named by a stage's ``files`` entries (strings, or the values of a mapping)."""
    if obj is None:
        return []
    if OmegaConf.is_list(obj) or isinstance(obj, (list, tuple)):
        return [p for item in obj for p in _file_paths(item)]
    return [str(obj)]


def fingerprint(path: str | Path) -> str:
    """A content fingerprint of an input file (SHA-256) or folder (names, sizes, mtimes).

    A path that does not exist fingerprints as "missing"; the stage itself reports the error.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    elif path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        return "missing"
    return h.hexdigest()[:16]


PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def code_fingerprint(paths: tuple[str, ...]) -> str:
    """SHA-256 of the ``.py`` sources under ``paths`` (relative to ``soulchat/``, or absolute), so a
    stage whose code changed is run again instead of being answered from the cache."""
    h = hashlib.sha256()
    for entry in paths:
        root = Path(entry) if Path(entry).is_absolute() else PACKAGE / entry
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for f in files:
            h.update(f"{f.relative_to(root.parent)}\0".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage_key(stage: Stage, cfg: DictConfig, upstream: dict[str, str]) -> str:
    """Hash of the stage's config sections, its input files' contents, its code and its inputs'
    keys (``force`` excluded)."""
    payload = {
        "stage": stage.name,
        "version": CACHE_VERSION,
        "code": code_fingerprint(stage.code),
        "config": {k: _strip_force(_select(cfg, k)) for k in stage.config_keys},
        "files": {p: fingerprint(p) for item in stage.files(cfg) for p in _file_paths(item)},
        "inputs": upstream,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def plan(cfg: DictConfig) -> Plan:
    """Compute every stage's key from the config alone (nothing is run or read)."""
    p = Plan()
    cache = Path(cfg.paths.cache)
    for name, stage in STAGES.items():
        ups = {u: p.keys[u] for u in stage.inputs(cfg)}
        p.keys[name] = stage_key(stage, cfg, ups)
        p.paths[name] = cache / name / p.keys[name]
    return p


def validate_stages(stages: list[Any]) -> list[str]:
    """Check the ``stages`` list and return it in pipeline order."""
    stages = [getattr(s, "value", s) for s in stages]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown} in stages=; valid: {list(STAGES)}")
    return [s for s in STAGES if s in stages]


def load_stage_function(stage: Stage) -> Callable[[StageContext], dict[str, float]]:
    if callable(stage.run):
        return stage.run
    module, _, attr = stage.run.partition(":")
    return getattr(importlib.import_module(module), attr)


def read_marker(path: Path) -> dict[str, Any] | None:
    marker = path / MARKER
    if not marker.exists():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


class _Lock:
    """An exclusive lock on a stage key, so two processes never write the same folder."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> "_Lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def run_stage(
    name: str, cfg: DictConfig, p: Plan, run_dir: Path, tracker: Any = None, execute: bool = True
) -> StageResult:
    """Return a stage's finished output, running it unless cached (or forced).

    With ``execute=False`` (an upstream stage the user did not select) a missing output is an error
    that says which stage to add.
    """
    stage = STAGES[name]
    final = p.paths[name]
    key = p.keys[name]
    force = bool(cfg.force) or bool(OmegaConf.select(cfg, f"{name}.force", default=False))
    with _Lock(final.parent / f"{key}.lock"):
        marker = read_marker(final)
        if marker is not None and not (execute and force):
            log.info("stage %s: cached (%s)", name, final)
            return StageResult(name, key, final, marker.get("metrics", {}), cached=True)
        if not execute:
            raise RuntimeError(
                f"stage {name!r} is needed but not selected and its output for this config is not "
                f"cached ({final}); add it: stages=[{name},...]"
            )
        inputs = {}
        for up in stage.inputs(cfg):
            up_path = p.paths[up]
            if read_marker(up_path) is None:
                raise RuntimeError(f"stage {name!r} needs {up!r}, whose output {up_path} is not finished")
            inputs[up] = up_path
        partial = final.parent / f"{key}.partial"
        if force and partial.exists():
            shutil.rmtree(partial)
        resumed = partial.exists()
        partial.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(name, cfg, partial, inputs, key, run_dir, tracker, resumed)
        log.info("stage %s: running into %s%s", name, partial, " (resuming)" if resumed else "")
        t0 = time.perf_counter()
        metrics = load_stage_function(stage)(ctx) or {}
        seconds = time.perf_counter() - t0
        metrics = {k: float(v) for k, v in metrics.items()}
        (partial / MARKER).write_text(
            json.dumps({"stage": name, "key": key, "metrics": metrics, "seconds": seconds,
                        "inputs": {k: str(v) for k, v in inputs.items()}}, indent=2),
            encoding="utf-8",
        )
        if final.exists():  # a forced re-run replaces the old output
            shutil.rmtree(final)
        os.replace(partial, final)
        return StageResult(name, key, final, metrics, cached=False, seconds=seconds)
