"""Entry-point plugins: built-ins register like third parties, a broken plugin is named, the
example plugin package installs and is used from the command line through Hydra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from soulchat.registry import FAMILIES, ComponentConfig, Registry, load_plugins

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "soulchat-example"


def test_builtins_come_through_the_entry_point():
    reg = load_plugins(reload=True)
    assert not reg.errors, reg.errors
    for family in ("prompt", "reader", "filter", "model", "finetune", "strategy", "metric_set", "generator"):
        assert family in reg.families
        builtin = [c for c in reg.families[family].values() if c.dist == "soulchat"]
        assert builtin, f"no built-in {family} component"
    assert set(FAMILIES) <= set(reg.families)


def test_registry_rejects_bad_registrations():
    reg = Registry()
    with pytest.raises(KeyError, match="unknown component family"):
        reg.add("nofamily", "x", ComponentConfig)
    with pytest.raises(TypeError):
        reg.add("prompt", "x", dict)
    with pytest.raises(KeyError, match="valid"):
        reg.get("prompt", "missing")


def _fake_dist(root: Path, name: str, entry: str, module: str, body: str) -> None:
    """A minimal installed distribution (dist-info + module) on a PYTHONPATH folder."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[soulchat.plugins]\n{entry} = {module}:register\n")
    (root / f"{module}.py").write_text(textwrap.dedent(body))


def test_broken_plugin_is_reported_by_name_and_others_still_load(tmp_path, cli):
    _fake_dist(tmp_path, "broken-plugin", "broken", "broken_mod", """
        def register(registry):
            raise RuntimeError("this plugin is broken on purpose")
    """)
    _fake_dist(tmp_path, "good-plugin", "good", "good_mod", """
        from dataclasses import dataclass
        from soulchat.registry import ComponentConfig

        @dataclass
        class Shout(ComponentConfig):
            \"\"\"A prompt from a second plugin.\"\"\"
            volume: int = 3

        def register(registry):
            registry.add("prompt", "shout", Shout)
    """)
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = cli(["plugins"], env=env)
    assert res.returncode == 1  # a failed plugin makes `soulchat plugins` exit non-zero
    out = res.stdout + res.stderr
    assert "broken" in out and "broken on purpose" in out and "broken-plugin" in out
    assert "shout" in out and "good-plugin" in out and "tiny" in out
    # the good plugin's option is selectable and type-checked through Hydra
    res = cli(["prompt=shout", "prompt.volume=5", "--cfg", "job"], env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "volume: 5" in res.stdout
    res = cli(["prompt=shout", "prompt.volume=loud", "--cfg", "job"], env=env)
    assert res.returncode != 0 and "volume" in res.stderr


def _install_example() -> None:
    """Install plugins/soulchat-example into the test environment (editable, fast)."""
    try:
        import soulchat_example  # noqa: F401
        return
    except ImportError:
        pass
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(EXAMPLE)]
    try:
        import setuptools  # noqa: F401
        cmd.insert(-2, "--no-build-isolation")
    except ImportError:
        pass
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    # an editable install's import hook is read at interpreter start-up; this process needs the path
    sys.path.insert(0, str(EXAMPLE))
    import importlib

    importlib.invalidate_caches()


def test_example_plugin_installs_and_works_from_the_command_line(cli, outputs):
    _install_example()
    res = cli(["plugins"])
    assert "soulchat-example" in res.stdout
    assert "socratic" in res.stdout and "length_ratio" in res.stdout
    # a YAML option shipped by the plugin (its config folder is on Hydra's search path) and a
    # schema-only option, both selected exactly like built-ins
    res = cli(["prompt=socratic", "metric_set=length_ratio", "metric_set.short_below=0.3", "--cfg", "job"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "苏格拉底式提问" in res.stdout
    assert "short_below: 0.3" in res.stdout
    res = cli(["metric_set=length_ratio", "metric_set.short_below=half", "--cfg", "job"])
    assert res.returncode != 0 and "short_below" in res.stderr


def test_example_metric_set_builds_and_scores():
    _install_example()
    from omegaconf import OmegaConf

    from soulchat.registry import load_plugins

    reg = load_plugins(reload=True)
    cfg = OmegaConf.structured(reg.get("metric_set", "length_ratio").schema(name="length_ratio"))
    metric = reg.build("metric_set", cfg)
    metric.update(["你好", "我理解你的感受，能多说一点吗？"], ["你好呀朋友们", "我理解你"])
    out = metric.compute()
    assert out["length_ratio"] == pytest.approx((2 / 6 + 15 / 4) / 2)
    assert out["short_rate"] == pytest.approx(50.0)


def test_example_plugin_adds_a_stage_that_runs_after_its_input(cli, outputs):
    """A plugin's stage: selected by name, its section typed, ordered after the stage it reads
    (computed first here), cached like any other."""
    _install_example()
    res = cli(["stages=[dialogue_lengths]", "dialogue_lengths.long_from=10", "tracking.enabled=false"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    markers = {p.parent.parent.name: json.loads(p.read_text()) for p in (outputs / "cache").glob("*/*/_SUCCESS.json")}
    assert set(markers) == {"rewrite", "dialogue_lengths"}
    metrics = markers["dialogue_lengths"]["metrics"]
    assert metrics["dialogues"] > 0 and metrics["mean_messages"] >= 2 and 0 <= metrics["long_share"] <= 1
    res = cli(["stages=[dialogue_lengths]", "dialogue_lengths.long_from=ten", "tracking.enabled=false"])
    assert res.returncode != 0 and "long_from" in res.stderr
