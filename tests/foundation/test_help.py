"""``soulchat --help``: subcommands, stages and the groups a user picks from; quiet when piped to head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_subcommands_stages_and_groups_not_schemas(cli):
    res = cli(["--help"])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for word in ("chat", "serve", "ui", "score", "rewrite, corpus, train, generate, evaluate", "prompt",
                 "smile", "model", "+experiment", "soulchat_full", "guard"):
        assert word in out, word
    assert "schema/" not in out and "Traceback" not in res.stderr


def test_help_piped_into_a_reader_that_stops_early_raises_nothing():
    cmd = f"{sys.executable} -m soulchat --help | head -2"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 2, res.stderr
    assert "Error" not in res.stderr and "Traceback" not in res.stderr
