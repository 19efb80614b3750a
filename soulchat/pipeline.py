"""The staged pipeline: rewrite → corpus → train → generate → evaluate.

Each stage is a function ``run(ctx: StageContext) -> dict[str, float]`` in
``soulchat/<stage>/stage.py``. It reads its inputs (upstream stages' output folders in
``ctx.inputs``) and writes its outputs into ``ctx.out``; the metrics it returns are logged to MLflow
as ``<stage>/<metric>``.

A finished stage's output folder is stored under ``<paths.cache>/<stage>/<key>/`` where ``key``
hashes everything that can change its output: the stage's own config sections (:data:`STAGES` says
which; fields marked operational in their schema, like concurrency or timeouts, are left out), the
contents of the input files it names, the identity of the tokenizer or model it uses, the source code
it runs (the import closure of its module and of the components it builds, plugins included; see
:mod:`soulchat.codekey`) and its inputs' keys. Re-running, or a sweep that varies only evaluation,
reuses finished upstream stages; a selected stage whose inputs are not cached computes them first.
While it runs, a stage writes into ``<key>.partial/`` (the same folder on every attempt, so long
stages resume where they stopped); only a stage that returned normally is renamed to ``<key>/`` with
a ``_SUCCESS.json`` marker, so a half-written output is never taken as finished.
"""

from __future__ import annotations

import dataclasses
import fcntl
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

from soulchat import codekey
from soulchat.errors import ConfigError
from soulchat.stage import Stage, StageContext

log = logging.getLogger(__name__)

#: bump when a stage's output layout changes, so old cache entries are not reused
CACHE_VERSION = 1
MARKER = "_SUCCESS.json"


#: name -> declaration of every registered stage (``stage`` family), loaded on first use
STAGES: dict[str, Stage] = {}


def stages() -> dict[str, Stage]:
    """Every registered stage's declaration, in registration order."""
    if not STAGES:
        from soulchat.registry import registry

        for name, comp in registry().families.get("stage", {}).items():
            stage = comp.load_factory()
            if stage.name != name:
                raise TypeError(f"stage {name!r} ({comp.dist}) declares itself as {stage.name!r}")
            STAGES[name] = stage
    return STAGES


def order(cfg: DictConfig) -> list[str]:
    """Stage names ordered so that every stage follows the stages it reads (ties: registration order).

    Raises:
        ConfigError: a stage reads one that is not registered, or the inputs form a cycle.
    """
    table = stages()
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, via: str) -> None:
        if name in done:
            return
        if name not in table:
            raise ConfigError(f"stage {via!r} reads stage {name!r}, which is not registered")
        if name in visiting:
            raise ConfigError(f"stages read each other in a cycle through {name!r}")
        visiting.add(name)
        for up in table[name].inputs(cfg):
            visit(up, name)
        visiting.discard(name)
        done.append(name)

    for name in table:
        visit(name, name)
    return done


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


def _keyed(node: Any) -> Any:
    """A config section as keyed: plain containers, without the fields its schema marks operational
    (``metadata={"operational": True}``: settings that change how, not what, like ``force``,
    concurrency, timeouts, spend guards)."""
    if isinstance(node, DictConfig):
        schema = OmegaConf.get_type(node)
        skip = {f.name for f in dataclasses.fields(schema) if f.metadata.get("operational")} \
            if dataclasses.is_dataclass(schema) else set()
        return {k: "???" if OmegaConf.is_missing(node, k) else _keyed(node[k])
                for k in node if k not in skip and k != "force"}
    if OmegaConf.is_list(node):
        return [_keyed(v) for v in node]
    return node


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


def stage_modules(stage: Stage, cfg: DictConfig) -> list[str]:
    """The modules a stage's code starts from: its own, and those of the components it builds (the
    chosen one of each family, every registered one where the config chooses none, and the ones its
    section names)."""
    from soulchat.registry import registry

    reg = registry()
    chosen = []
    for family in stage.families:
        comps = reg.families.get(family, {})
        name = OmegaConf.select(cfg, f"{family}.name", default=None)
        chosen += [comps[name]] if name in comps else list(comps.values())
    chosen += [reg.families[f][n] for f, n in stage.components(cfg) if n in reg.families.get(f, {})]
    modules = [stage.module]
    for comp in chosen:
        factory = comp.factory if isinstance(comp.factory, str) else getattr(comp.factory, "__module__", None)
        for module in (factory.partition(":")[0] if factory else None, comp.schema.__module__):
            if module:
                codekey.track(module)
                modules.append(module)
    return modules


def stage_key(stage: Stage, cfg: DictConfig, upstream: dict[str, str]) -> str:
    """Hash of what can change the stage's output: its config sections (operational fields and
    ``force`` excluded), its input files' contents, the identity of what it loads, its code and its
    inputs' keys."""
    payload = {
        "stage": stage.name,
        "version": CACHE_VERSION,
        "code": codekey.fingerprint(stage_modules(stage, cfg)),
        "config": {k: _keyed(OmegaConf.select(cfg, k, throw_on_missing=False)) for k in stage.config_keys},
        "files": {p: fingerprint(p) for item in stage.files(cfg) for p in _file_paths(item)},
        "identity": stage.identity(cfg),
        "inputs": upstream,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def plan(cfg: DictConfig) -> Plan:
    """Compute every stage's key from the config alone (nothing is run or read)."""
    p = Plan()
    cache = Path(cfg.paths.cache)
    for name in order(cfg):
        stage = stages()[name]
        ups = {u: p.keys[u] for u in stage.inputs(cfg)}
        p.keys[name] = stage_key(stage, cfg, ups)
        p.paths[name] = cache / name / p.keys[name]
    return p


def validate_stages(selected: list[Any], cfg: DictConfig) -> list[str]:
    """Check the ``stages`` list against the registered stages and return it in pipeline order."""
    selected = [str(getattr(s, "value", s)) for s in selected]
    unknown = [s for s in selected if s not in stages()]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} in stages=; valid: {list(stages())}")
    return [s for s in order(cfg) if s in selected]


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


def needed(selected: list[str], cfg: DictConfig) -> list[str]:
    """The selected stages and every upstream stage they read, in pipeline order."""
    ordered = order(cfg)
    want = set(selected)
    for name in reversed(ordered):
        if name in want:
            want.update(stages()[name].inputs(cfg))
    return [s for s in ordered if s in want]


def run_stage(
    name: str, cfg: DictConfig, p: Plan, run_dir: Path, tracker: Any = None, selected: bool = True
) -> StageResult:
    """Return a stage's finished output, running it unless cached (or forced).

    An upstream stage the user did not select (``selected=False``) is reused when cached and computed
    otherwise, like ``make``; ``force`` applies to selected stages only.
    """
    stage = stages()[name]
    final = p.paths[name]
    key = p.keys[name]
    force = bool(cfg.force) or bool(OmegaConf.select(cfg, f"{name}.force", default=False))
    with _Lock(final.parent / f"{key}.lock"):
        marker = read_marker(final)
        if marker is not None and not (selected and force):
            log.info("stage %s: cached (%s)", name, final)
            return StageResult(name, key, final, marker.get("metrics", {}), cached=True)
        if not selected:
            log.info("stage %s: not selected, but a selected stage reads it and it is not cached: computing it", name)
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
        try:
            metrics = load_stage_function(stage)(ctx) or {}
        except BaseException:
            if not any(partial.iterdir()):  # nothing to resume from: leave no empty folder behind
                partial.rmdir()
            raise
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
