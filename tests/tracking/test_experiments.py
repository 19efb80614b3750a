"""Every experiment composes in both scales, and so does every job its sweep would launch; the HPO
search space and the SLURM launcher compose too (nothing is launched)."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep
from omegaconf import OmegaConf

from soulchat.config import CONF_DIR

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SCALES = ["tiny", "paper"]


def job_overrides(params) -> list[list[str]]:
    """The overrides of every job a sweep over ``params`` launches (an interval: its two ends)."""
    jobs: list[list[str]] = [[]]
    for o in OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()]):
        key = o.get_key_element()
        if isinstance(o.value(), IntervalSweep):
            values = [str(o.value().start), str(o.value().end)]
        elif o.is_sweep_override():
            values = list(o.sweep_string_iterator())
        else:
            values = [o.get_value_element_as_str()]
        jobs = [job + [f"{key}={v}"] for job in jobs for v in values]
    return jobs


def test_the_expected_experiments_exist():
    assert {"soulchat_full", "mechat_lora", "ablation_prompt", "ablation_history", "baselines"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_sweep_job_of_every_experiment_composes(compose, experiment, scale):
    base = [f"experiment={experiment}", f"scale={scale}"]
    cfg = compose(base, return_hydra_config=True)
    assert cfg.tracking.experiment == experiment  # one MLflow experiment per experiment file
    params = cfg.hydra.sweeper.params or {}
    for job in job_overrides(params):
        job_cfg = compose(base + job, return_hydra_config=True)
        for override in job:
            key, value = override.lstrip("+").split("=", 1)
            if key in job_cfg.hydra.runtime.choices:  # a config group: the option was chosen
                assert job_cfg.hydra.runtime.choices[key] == value, (experiment, override)
            else:  # a value: it arrived
                got = OmegaConf.select(job_cfg, key)
                assert ("null" if got is None else str(got)) == value, (experiment, override)

def test_experiments_set_what_they_say(compose):
    mechat = compose(["experiment=mechat_lora"])
    assert mechat.finetune.name == "lora" and mechat.prompt.name == "smile"
    full = compose(["experiment=soulchat_full"])
    assert full.finetune.name == "full" and full.prompt.name == "soulchat"
    assert (full.generate.top_p, full.generate.temperature) == (0.75, 0.95)  # the paper's sampling
    prompt = compose(["experiment=ablation_prompt"], return_hydra_config=True)
    assert dict(prompt.hydra.sweeper.params) == {"prompt": "soulchat,smile"}
    untrained = compose(["experiment=baselines", "+experiment/baseline=untrained"])
    assert untrained.train.max_steps == 1 and untrained.train.lr == 0.0
    api = compose(["experiment=baselines", "+experiment/baseline=api_model"])
    assert api.generator.name == "openai" and not api.generator.uses_trained_model
    assert "train" not in [getattr(s, "value", s) for s in api.stages]


@pytest.mark.parametrize("scale", SCALES)
def test_hpo_search_space_composes(compose, scale):
    cfg = compose(["hparams_search=lr_lora_rank", f"scale={scale}"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.storage is None
    assert cfg.finetune.name == "lora" and cfg.objective == "evaluate/rouge-l"
    jobs = job_overrides(cfg.hydra.sweeper.params)
    assert len(jobs) == 2 * 4  # lr interval ends x 4 ranks
    for job in jobs:
        job_cfg = compose(["hparams_search=lr_lora_rank", f"scale={scale}", *job])
        assert 1e-4 <= job_cfg.train.lr <= 1e-2 and job_cfg.finetune.r in (4, 8, 16, 32)


def test_slurm_launcher_composes(compose):
    cfg = compose(["hydra/launcher=slurm", "scale=paper", "experiment=ablation_prompt"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == cfg.train.devices == 8 and launcher.tasks_per_node == 1
    assert cfg.hydra.callbacks.mlflow._target_ == "soulchat.tracking.sweep.MlflowSweepCallback"
