"""Keys planted every way a user might put them are found in 0 places: every file under outputs/ (the
MLflow database and the stage folders included), the console, the training workers' config, the
``soulchat batch`` command's output. Real runs of the CLI against a real local HTTP server that
quotes the key in its errors, as some providers do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from aiohttp import web
from omegaconf import OmegaConf
from tracking_support import REPO, client_for, files_containing, run_soulchat, runs_of

from soulchat.testing.llm_server import TestServer
from soulchat.tracking import redact
from soulchat.tracking.redact import MASK, redact_text

#: a key without any key-like shape, in a variable whose name does not look secret
KEY = "q8Zr2Lx0pWm4Tn6Vb1Yc7Ud3"
PLAIN_VAR = "LLM_SETTING_PLAIN"


class QuotingServer(TestServer):
    """Answers the first chat request 400 and every later one 401, both quoting the Bearer key."""

    async def _chat_response(self, body, fault, request):
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        code = 400 if self.count() <= 1 else 401
        return web.json_response({"error": {"message": f"Incorrect API key provided: {key}.", "code": code}},
                                 status=code)


def live(server: TestServer, *extra: str) -> list[str]:
    return ["stages=[rewrite]", "rewrite.limit=3", "rewrite.concurrency=1", *server.overrides(), *extra]


def console(res: subprocess.CompletedProcess) -> str:
    return res.stdout + res.stderr


@pytest.fixture
def no_known_secrets(monkeypatch):
    """This process's registry of known secrets, emptied for the test."""
    from soulchat.tracking import secrets

    monkeypatch.setattr(secrets, "_known", set())
    return secrets


def test_a_server_quoting_the_key_of_a_plainly_named_variable_leaks_it_nowhere(tmp_path):
    out = tmp_path / "outputs"
    with QuotingServer() as server:
        res = run_soulchat(live(server, f"endpoint.api_key_env={PLAIN_VAR}", "tracking.experiment=trk_quote"),
                           out, env={PLAIN_VAR: KEY, "OPENAI_API_KEY": ""})
    assert res.returncode == 2, console(res)[-3000:]  # 401: the endpoint refuses the key
    assert files_containing(out, [KEY]) == [] and KEY not in console(res)
    # the places the key would have reached hold the mask (so the search above means something)
    assert MASK in next(out.glob("runs/*/*/traceback.txt")).read_text()
    assert MASK in (next(out.glob("runs/*/*/soulchat.log"), None) or next(out.glob("runs/*/*/*.log"))).read_text()
    _, runs = runs_of(out, "trk_quote")
    assert runs[0].info.status == "FAILED" and MASK in runs[0].data.tags["error"]
    error_txt = client_for(out).download_artifacts(runs[0].info.run_id, "error.txt", str(tmp_path / "dl"))
    assert MASK in open(error_txt, encoding="utf-8").read()
    results = [json.loads(line) for p in out.glob("cache/rewrite/*/results.jsonl") for line in p.open()]
    assert results and all(MASK in " ".join(r["errors"]) for r in results)
    assert any(MASK in p.read_text() for p in out.glob("cache/rewrite/*/invalid.jsonl"))


def test_the_key_itself_given_as_the_variable_name_is_withheld_and_the_error_says_why(tmp_path):
    out = tmp_path / "outputs"
    with TestServer() as server:
        res = run_soulchat(live(server, f"endpoint.api_key_env={KEY}", "tracking.experiment=trk_keyname"), out)
        assert server.count() == 0
    assert res.returncode == 2, console(res)[-3000:]
    assert files_containing(out, [KEY]) == [] and KEY not in console(res)
    assert "names no environment variable that is set" in console(res) and "withheld" in console(res)
    assert MASK in next(out.glob("runs/*/*/.hydra/overrides.yaml")).read_text()
    assert OmegaConf.load(next(out.glob("runs/*/*/config.resolved.yaml"))).endpoint.api_key_env == MASK


@pytest.mark.parametrize("arg", [f"endpoint.api_key=sk-{KEY}", f"+endpoint.api_key={KEY}",
                                 f"++judge.api_key={KEY}"])
def test_a_key_on_the_command_line_is_refused_without_echoing_it(tmp_path, arg):
    out = tmp_path / "outputs"
    res = run_soulchat(["stages=[rewrite]", arg], out, timeout=60)
    assert res.returncode == 2 and KEY not in console(res)
    assert "environment variable" in res.stderr and arg.split("=")[0].lstrip("+") in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists() or files_containing(out, [KEY]) == []


def test_a_value_that_is_no_variable_name_is_withheld_with_the_reason(no_known_secrets):
    secrets = no_known_secrets
    key = "plain-9Xq2Lm0Rt7Wv4Ye1"  # a '-': no variable is called this
    with pytest.raises(secrets.SecretNotFound) as info:
        secrets.env_value(key, "endpoint.api_key_env")
    assert key not in str(info.value) and "not a variable's name" in str(info.value)
    assert redact_text(f"api_key_env: {key}") == f"api_key_env: {MASK}"


def test_the_value_behind_a_plainly_named_variable_is_secret(no_known_secrets, monkeypatch):
    secrets = no_known_secrets
    monkeypatch.setenv(PLAIN_VAR, KEY)
    monkeypatch.setenv("ANOTHER_PLAIN", "not-named-by-config-1")
    assert redact_text(KEY) == KEY  # the name does not look secret
    cfg = OmegaConf.create({"endpoint": {"api_key_env": PLAIN_VAR}, "judge": {"api_key_env": "OPENAI_API_KEY"}})
    assert secrets.register_env_fields(cfg) == []  # both are names
    assert redact_text(f"x {KEY} y") == f"x {MASK} y"
    assert redact_text("not-named-by-config-1") == "not-named-by-config-1"
    assert redact_text("api_key_env: OPENAI_API_KEY") == "api_key_env: OPENAI_API_KEY"  # unset, but a name


def test_the_no_key_hint_is_not_garbled(monkeypatch, tmp_path):
    from soulchat.llm import FatalEndpointError, LLMClient

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with TestServer() as server, pytest.raises(FatalEndpointError) as info:
        LLMClient(server.endpoint(tmp_path / "store.sqlite"))
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and "is not set" in message
    assert redact_text(message) == message


def test_fit_config_for_the_training_workers_is_redacted(compose, tmp_path, monkeypatch):
    from soulchat.train.launch import write_spec

    monkeypatch.setenv("SOME_SERVICE_TOKEN", KEY)
    cfg = compose(["endpoint=openai", "endpoint.base_url=http://bob:hunter2hunter2@host:9/v1",
                   f"rewrite.source={tmp_path}/{KEY}.jsonl"])
    spec = json.loads(write_spec(cfg, tmp_path / "corpus", tmp_path).read_text())
    text = open(spec["config"], encoding="utf-8").read()
    assert KEY not in text and "hunter2hunter2" not in text
    loaded = OmegaConf.load(spec["config"])
    assert OmegaConf.to_container(loaded.train) == OmegaConf.to_container(cfg.train, resolve=True)
    assert loaded.model.name == cfg.model.name


def test_soulchat_batch_redacts_what_it_logs_and_prints(tmp_path):
    env = {**os.environ, "SOULCHAT_OUTPUTS": str(tmp_path / "outputs"), PLAIN_VAR: KEY}
    with TestServer() as server:
        overrides = [*server.overrides(), f"endpoint.api_key_env={PLAIN_VAR}", "rewrite.limit=1"]
        output = tmp_path / "batch_output.jsonl"
        output.write_text(json.dumps({"custom_id": "0" * 32 + ":qa-1", "response": None,
                                      "error": {"message": f"Incorrect API key provided: {KEY}"}}) + "\n")
        ingest = subprocess.run([sys.executable, "-m", "soulchat", "batch", "ingest", "--output", str(output),
                                 *overrides], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        bad_name = subprocess.run([sys.executable, "-m", "soulchat", "batch", "prepare", *server.overrides(),
                                   f"endpoint.api_key_env={KEY}"], cwd=REPO, env=env, capture_output=True,
                                  text=True, timeout=120)
    assert ingest.returncode == 0, console(ingest)[-3000:]
    assert "1 failed" in ingest.stdout and KEY not in console(ingest) and MASK in ingest.stderr
    assert bad_name.returncode == 2 and KEY not in console(bad_name), console(bad_name)[-3000:]
    assert "withheld" in bad_name.stderr and "Traceback" not in bad_name.stderr


def test_params_named_like_secrets_are_masked_whatever_their_value(tmp_path):
    from mlflow import MlflowClient

    from soulchat.tracking.tracker import Tracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with Tracker(uri, "params", None, "p") as tr:
        tr.log_params({"endpoint.api_key": KEY, "model.hf_token": "", "train.lr": 0.1})
    params = MlflowClient(uri).get_run(tr.run_id).data.params
    assert params == {"endpoint.api_key": MASK, "model.hf_token": "", "train.lr": "0.1"}
    assert files_containing(tmp_path, [KEY]) == []
    assert redact.redact_text("OPENAI_API_KEY=none)") == "OPENAI_API_KEY=none)"
