"""Top-level typed config: the root schema, stage sections, and Hydra set-up.

Each stage's section is a dataclass defined next to the stage (``soulchat/<stage>/config.py``);
component groups (``prompt``, ``model``, ...) are typed by the schemas their plugins register
(see :mod:`soulchat.registry`). :func:`setup` must run before Hydra composes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import MISSING, OmegaConf

from soulchat.chat.config import ChatConfig
from soulchat.corpus.config import CorpusConfig
from soulchat.evaluate.config import EvaluateConfig
from soulchat.generate.config import GenerateConfig
from soulchat.rewrite.config import RewriteConfig
from soulchat.serve.config import ServeConfig
from soulchat.train.config import TrainConfig

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
DATA_DIR = Path(__file__).resolve().parent / "data"


def data_path(relative: str) -> str:
    """``${soulchat_data:demo/qa.jsonl}``: a file of the bundled data (``soulchat/data``)."""
    return str(DATA_DIR / relative)


@dataclass
class PathsConfig:
    """Where everything is written. All of it lives under ``outputs`` by default."""

    outputs: str = "${oc.env:SOULCHAT_OUTPUTS,outputs}"
    cache: str = "${.outputs}/cache"


@dataclass
class TrackingConfig:
    """MLflow. The default store is a local SQLite file; point ``uri`` at a server to share runs."""

    enabled: bool = True
    uri: str = "sqlite:///${paths.outputs}/mlflow.db"
    artifacts: str = "${paths.outputs}/mlartifacts"
    experiment: str = "soulchat"
    run_name: Optional[str] = None


@dataclass
class SoulchatConfig:
    """The root config (``conf/config.yaml`` fills it)."""

    # the stages to run (registered ones: `soulchat plugins`); upstream stages they read are added
    stages: list[str] = field(default_factory=lambda: ["rewrite", "corpus", "train", "generate", "evaluate"])
    seed: int = 42
    force: bool = False  # recompute every selected stage; per stage: <stage>.force=true
    objective: Optional[str] = None  # metric a sweeper optimises, e.g. evaluate/rouge-l
    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    rewrite: RewriteConfig = field(default_factory=RewriteConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)  # soulchat chat / serve: the model, the disclosure
    serve: ServeConfig = field(default_factory=ServeConfig)  # soulchat serve: address, key, limits
    # component groups: typed by the schema of the option chosen
    prompt: Any = MISSING
    endpoint: Any = MISSING
    topic: Any = MISSING
    model: Any = MISSING
    finetune: Any = MISSING
    strategy: Any = MISSING
    generator: Any = MISSING
    metric_set: Any = MISSING
    judge: Any = MISSING
    guard: Any = MISSING  # crisis screen in front of the model (chat, serve) and in evaluate
    experiment: Any = None


def root_schema(reg: Any) -> type:
    """The root schema with a section for every registered stage it lacks (a plugin's stage)."""
    import dataclasses

    extra = [(name, comp.schema, field(default_factory=comp.schema))
             for name, comp in reg.families.get("stage", {}).items()
             if name not in SoulchatConfig.__dataclass_fields__]
    if not extra:
        return SoulchatConfig
    return dataclasses.make_dataclass("SoulchatConfig", extra, bases=(SoulchatConfig,))


_DONE = False


def setup() -> None:
    """Load plugins, register their schemas and config folders with Hydra. Idempotent."""
    global _DONE
    if _DONE:
        return
    from hydra.core.config_store import ConfigStore

    from soulchat.registry import load_plugins

    reg = load_plugins()
    dirs = [CONF_DIR, *reg.config_dirs]
    reg.store_configs(dirs)
    ConfigStore.instance().store(name="soulchat_schema", node=root_schema(reg))
    if not OmegaConf.has_resolver("soulchat_data"):
        OmegaConf.register_new_resolver("soulchat_data", data_path)
    if not OmegaConf.has_resolver("soulchat_plugin_dirs"):
        OmegaConf.register_new_resolver("soulchat_plugin_dirs", lambda: [f"file://{d}" for d in reg.config_dirs])
    if not OmegaConf.has_resolver("soulchat_sweep_suffix"):  # hydra.sweep.dir: unique per sweep
        from soulchat.tracking.store import sweep_suffix

        OmegaConf.register_new_resolver("soulchat_sweep_suffix", sweep_suffix)
    if not OmegaConf.has_resolver("soulchat_run_suffix"):  # hydra.run.dir: unique per process
        from soulchat.tracking.store import run_suffix

        OmegaConf.register_new_resolver("soulchat_run_suffix", run_suffix)
    _DONE = True


def compose(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> Any:
    """The config ``python -m soulchat OVERRIDES`` would run, composed outside a Hydra app (tools,
    benchmarks, tests); plugins loaded."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    setup()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def is_multirun() -> bool:
    """True inside a job of a Hydra multirun (a sweep)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and str(HydraConfig.get().mode).endswith("MULTIRUN")
