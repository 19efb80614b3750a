"""Every experiment and every option of every group composes, in both scales; typos fail early."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ValidationError

from soulchat.config import CONF_DIR, SoulchatConfig

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SCALES = ["tiny", "paper"]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_in_both_scales(compose, experiment, scale):
    from soulchat import validate

    cfg = compose([f"experiment={experiment}", f"scale={scale}", "train.dry_run=true"])
    assert cfg.model.name and cfg.prompt.name
    assert validate.problems(cfg) == []  # and every setting it makes is possible


def test_every_option_of_every_group_composes(compose):
    from soulchat.registry import registry

    reg = registry()
    # families chosen at the root (prompt=..., model=...); `reader` and `filter` are chosen inside
    # the corpus section (corpus/reader, corpus/filter) and checked by the corpus tests
    groups = {p.name for p in CONF_DIR.iterdir()
              if p.is_dir() and p.name not in ("experiment", "hydra", "hparams_search")}
    groups |= {f for f, comps in reg.families.items() if comps and f in SoulchatConfig.__dataclass_fields__}
    checked = 0
    for group in sorted(groups):
        options = {p.stem for p in (CONF_DIR / group).glob("*.yaml")} if (CONF_DIR / group).is_dir() else set()
        options |= set(reg.families.get(group, {}))
        for option in sorted(options):
            for scale in SCALES:
                cfg = compose([f"{group}={option}", f"scale={scale}"])
                node = cfg.get(group)
                if group in reg.families:  # a YAML-only variant builds with the component it extends
                    assert node.name == option or node.name in reg.families[group], (group, option, node.name)
                    if node.name != option:
                        assert node.get("family") == option or (CONF_DIR / group / f"{option}.yaml").exists()
                checked += 1
    assert checked >= 2 * 10


def test_scales_differ_only_in_size(compose):
    tiny, paper = compose(["scale=tiny"]), compose(["scale=paper"])
    assert paper.train.global_batch_size == 80 and paper.train.max_steps == 30000
    assert paper.corpus.max_input_tokens == 1536 and paper.corpus.max_target_tokens == 512
    assert paper.train.devices == 8
    assert tiny.train.max_steps < 5000
    assert tiny.prompt == paper.prompt and tiny.model.name == paper.model.name


def test_mistyped_experiment_lists_valid_ones(compose):
    with pytest.raises(MissingConfigException) as err:
        compose(["experiment=soulchat_ful"])
    assert "soulchat_full" in str(err.value)


def test_typo_in_a_field_fails_at_compose_time(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose(["train.max_stepz=3"])
    assert "max_stepz" in str(err.value)
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose(["train.max_steps=three"])
    for typo in ("train.accelerator=gpux", "train.warmup_type=lin", "model.dtype=fp32", "generator.dtype=bf16"):
        with pytest.raises((ConfigCompositionException, ValidationError)):  # fixed choices are Enums
            compose([typo])
    from soulchat import validate

    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['trian'\]; registered: rewrite, corpus"):
        validate.check(compose(["stages=[corpus,trian]"]))


def test_stages_subset_in_order(compose):
    from soulchat.pipeline import validate_stages

    cfg = compose(["stages=[train,corpus]"])
    assert validate_stages(list(cfg.stages), cfg) == ["corpus", "train"]


def test_both_experiment_spellings_work_on_the_command_line(cli, outputs):
    for spelling in ("+experiment=soulchat_full", "experiment=soulchat_full"):
        res = cli([spelling, "scale=paper", "--cfg", "job"])
        assert res.returncode == 0, res.stderr[-2000:]
        assert "global_batch_size: 80" in res.stdout


def test_bad_command_line_gets_hydra_error_not_a_traceback(cli, outputs):
    res = cli(["train.max_steps=abc"])
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "max_steps" in res.stderr
    res = cli(["+experiment=nope"])
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "soulchat_full" in res.stderr


def test_bad_input_is_one_clear_line_not_a_traceback(cli, outputs, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n{broken\n', encoding="utf-8")
    res = cli(["stages=[corpus]", f"corpus.source={bad}"])
    assert res.returncode == 2
    err = res.stdout + res.stderr
    assert "Traceback" not in err
    assert f"{bad}, line 2" in err
    traces = list(outputs.glob("runs/*/*/traceback.txt"))
    assert len(traces) == 1 and "InputError" in traces[0].read_text()
