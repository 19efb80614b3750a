"""What a pipeline stage is (:class:`Stage`) and what its function gets (:class:`StageContext`).

Kept apart from :mod:`soulchat.pipeline` so that a stage module can import these without importing
the orchestration (whose source is then not part of the stage's code key)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: where its function lives, what it reads, which config makes its key."""

    name: str
    run: str | Callable[["StageContext"], dict[str, float]]  # "module:function" or the function
    inputs: Callable[[DictConfig], tuple[str, ...]]
    config_keys: tuple[str, ...]
    files: Callable[[DictConfig], tuple[Any, ...]] = lambda c: ()  # input files: their content is keyed too
    # component families it builds: the selected component's code (or, for a family the config does
    # not select by name, every registered one's) is keyed with the stage's own
    families: tuple[str, ...] = ()
    # what else can change its output that the config does not say by value (a tokenizer's content)
    identity: Callable[[DictConfig], Any] = lambda c: None
    # components it builds by a name its own section gives (family, name): their code is keyed too
    components: Callable[[DictConfig], tuple[tuple[str, str], ...]] = lambda c: ()
    # what MLflow lists its output as: "dataset" (an input of the run) or "model" (its hf/ folder)
    output_kind: str | None = None

    @property
    def module(self) -> str:
        return self.run.partition(":")[0] if isinstance(self.run, str) else self.run.__module__


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

    def publish(self, *files: Path) -> list[Path]:
        """Copy human-facing files to ``<run folder>/<stage>/`` and log them to MLflow under
        ``<stage>/``; files that do not exist are skipped. Returns the copies."""
        import shutil

        folder = Path(self.run_dir) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for f in map(Path, files):
            if not f.exists():
                continue
            copies.append(Path(shutil.copy2(f, folder / f.name)))
            if self.tracker is not None:
                self.tracker.log_artifact(f, self.name)
        return copies
