"""Impossible settings fail when the config is composed, naming the key and the allowed range; the
user's mistakes end as one line and exit 2, a bug keeps its traceback; a selected stage computes
the upstream stages it needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from soulchat import validate
from soulchat.errors import ConfigError

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("override, words", [
    ("generate.top_p=1.5", "generate.top_p=1.5: must be a probability in (0, 1]"),
    ("generate.temperature=0", "generate.temperature=0"),
    ("train.max_steps=2", "train.warmup_steps=20 must be at most train.max_steps=2"),
    ("train.micro_batch_size=-4", "train.micro_batch_size=-4: must be >= 1"),
    ("train.micro_batch_size=0", "train.micro_batch_size=0: must be >= 1"),
    ("train.micro_batch_size=5", "train.global_batch_size=16 must be a multiple of"),
    ("rewrite.concurrency=-3", "rewrite.concurrency=-3: must be >= 1"),
    ("+train.lrr=0.1", "train.lrr: no such setting in TrainConfig"),
    ("endpoint.top_p=0", "endpoint.top_p=0"),
    ("train.precision=bf16", "train.precision=bf16: must be one of 16-mixed"),
])
def test_impossible_settings_are_named_with_their_range(compose, override, words):
    cfg = compose([override])
    with pytest.raises(ConfigError) as err:
        validate.check(cfg)
    assert words in str(err.value)


def test_every_shipped_experiment_and_option_is_possible(compose):
    for overrides in ([], ["scale=paper", "train.dry_run=true"], ["experiment=soulchat_full"], ["experiment=mechat_lora"], ["experiment=soulchat_full", "+experiment/baseline=untrained"],
                      ["finetune=lora", "generator=openai", "prompt=smile"]):
        assert validate.problems(compose(overrides)) == [], overrides


def test_a_gpu_asked_for_where_there_is_none(compose):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert any("no CUDA GPU is visible" in p for p in validate.problems(compose(["train.accelerator=gpu"])))
    # not training: no GPU needed
    assert validate.problems(compose(["train.accelerator=gpu", "stages=[rewrite]"])) == []


def test_a_users_mistake_is_one_line_and_exit_2(cli, outputs):
    res = cli(["generate.top_p=1.5", "stages=[rewrite]"])
    assert res.returncode == 2, res.stderr[-2000:]
    err = res.stdout + res.stderr
    assert "generate.top_p=1.5: must be a probability in (0, 1]" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "ConfigError" in line]) == 1
    assert list(outputs.glob("runs/*/*/traceback.txt"))


def test_a_bug_keeps_its_traceback(outputs, tmp_path):
    """A KeyError raised by code (not by bad input) is not dressed up as the user's mistake; the
    traceback on the console is redacted all the same (here it quotes the API key)."""
    key = "sk-planted-" + "9" * 24
    script = (
        "import os, sys\n"
        "from soulchat import cli, pipeline\n"
        "from soulchat.stage import Stage\n"
        "def broken(ctx):\n"
        "    return {}['no such key ' + os.environ['MY_ENDPOINT_TOKEN']]\n"
        "pipeline.STAGES['rewrite'] = Stage('rewrite', broken, lambda c: (), ('rewrite',))\n"
        "cli.main(['stages=[rewrite]', 'tracking.enabled=false', 'endpoint.api_key_env=MY_ENDPOINT_TOKEN'])\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=REPO_ROOT, env={**__import__("os").environ, "MY_ENDPOINT_TOKEN": key,
                                             "HYDRA_FULL_ERROR": "1"})
    assert res.returncode not in (0, 2), res.stderr[-2000:]
    assert "Traceback" in res.stderr and "KeyError: 'no such key " in res.stderr
    assert key not in res.stdout + res.stderr


@pytest.mark.slow
def test_a_selected_stage_computes_what_it_needs(cli, outputs):
    """`stages=[corpus]` on a fresh outputs/ runs the rewrite stage it reads (said in one log line)."""
    res = cli(["stages=[corpus]", "tracking.enabled=false"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "stage rewrite: not selected, but a selected stage reads it and it is not cached: computing it" in res.stdout + res.stderr
    assert {p.parent.parent.name for p in (outputs / "cache").glob("*/*/_SUCCESS.json")} == {"rewrite", "corpus"}
