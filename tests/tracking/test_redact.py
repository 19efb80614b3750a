"""Redaction: what counts as a secret, and that the tracker never sends one (real SQLite store)."""

from __future__ import annotations

import logging

import pytest
from omegaconf import OmegaConf
from tracking_support import files_containing

from soulchat.tracking import redact
from soulchat.tracking.redact import MASK, redact_text

KEY = "sk-testtest0123456789abcdef"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One real SQLite store for this module's runs (creating its schema takes seconds)."""
    root = tmp_path_factory.mktemp("store")
    return root, f"sqlite:///{root}/mlflow.db"


@pytest.mark.parametrize("text, secret", [
    ("api_key: abcdefgh123", "abcdefgh123"),
    ('{"password": "p4ss w0rd"}'.replace(" ", ""), "p4ssw0rd"),
    ("endpoint.api_key=zzzzzzzzzz", "zzzzzzzzzz"),
    (r"base_url=http\://bob\:hunter2222@host\:9/v1", "hunter2222"),
    ("Authorization: Bearer abcdefghijkl", "abcdefghijkl"),
    (f"error calling with key {KEY}!", KEY),
    ("hf_token: hf_abcdefghijklmnopqrstuvwx", "hf_abcdefghijklmnopqrstuvwx"),
    ("MY_SERVICE_TOKEN: opensesame99", "opensesame99"),
])
def test_secrets_are_masked(text, secret):
    out = redact_text(text)
    assert secret not in out and MASK in out


@pytest.mark.parametrize("text", [
    "max_tokens: 512", "max_new_tokens: 48", "api_key_env: OPENAI_API_KEY", "tokenizer: tiny",
    "hf_token: null", "token: ${oc.env:HF_TOKEN}", "url: http://127.0.0.1:5000/v1", "key.train: 0123abcd",
])
def test_ordinary_values_are_kept(text):
    assert redact_text(text) == text


def test_values_of_secret_named_env_vars_are_masked_anywhere(monkeypatch):
    monkeypatch.setenv("ACME_SECRET", "no-shape-at-all-42")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # short: not a secret
    assert redact_text("a no-shape-at-all-42 b false") == f"a {MASK} b false"


def test_config_keys_named_like_secrets_are_masked():
    cfg = OmegaConf.create({"endpoint": {"api_key": "whatever", "api_key_env": "OPENAI_API_KEY",
                                         "max_tokens": 5, "base_url": "https://u:pw123456@h/v1"}})
    text = redact.config_yaml(cfg)
    assert "whatever" not in text and "pw123456" not in text
    assert "api_key_env: OPENAI_API_KEY" in text and "max_tokens: 5" in text


def test_log_records_are_redacted(caplog):
    redact.install_log_redaction()
    redact.install_log_redaction()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("soulchat.test").info("calling %s with %s", "https://x/v1", KEY)
    assert KEY not in caplog.text and MASK in caplog.text


def test_tracker_sends_nothing_secret(store, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from soulchat.tracking.tracker import Tracker

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root, uri = store
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text(f"used key {KEY}\n", encoding="utf-8")
    (report / "weights.bin").write_bytes(b"\x00\x01binary")
    with Tracker(uri, "redact", str(root / "art"), f"run {KEY}", tags={"t": KEY}) as tr:
        tr.log_params({"endpoint.api_key": KEY, "plain": 1})
        tr.set_tags({"note": f"x {KEY}"})
        tr.log_text(f"k={KEY}", "notes.txt")
        tr.log_artifact(report, "report")
        tr.log_config(OmegaConf.create({"endpoint": {"key_value": KEY}}))
    assert files_containing(root, [KEY]) == []
    run = MlflowClient(uri).get_run(tr.run_id)
    assert run.data.params == {"endpoint.api_key": MASK, "plain": "1"} and run.info.status == "FINISHED"
    assert (report / "report.md").read_text().count(KEY) == 1  # the original is left alone
    assert {a.path for a in MlflowClient(uri).list_artifacts(tr.run_id, "report")} == {
        "report/report.md", "report/weights.bin"}


def test_tracker_records_the_error(store):
    from mlflow import MlflowClient

    from soulchat.tracking.tracker import Tracker

    _, uri = store
    with pytest.raises(ValueError):
        with Tracker(uri, "errors", None, "boom") as tr:
            raise ValueError("bad field 'x' in line 3")
    run = MlflowClient(uri).get_run(tr.run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "ValueError: bad field 'x' in line 3"


def test_a_folder_store_works_when_chosen(tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from omegaconf import OmegaConf

    from soulchat.tracking.tracker import Tracker, store_location

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri, artifacts = store_location(OmegaConf.create({"uri": "mlruns", "artifacts": None}))
    assert uri == (tmp_path / "mlruns").as_uri() and artifacts is None
    with Tracker(uri, "folder", None, "r") as tr:
        tr.log_metrics({"m": 1.0})
    assert MlflowClient(uri).get_run(tr.run_id).data.metrics == {"m": 1.0}
