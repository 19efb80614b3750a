"""Helpers for the chat and serve tests (imported as ``chat_support``; the conftests put this folder on
``sys.path``): a trained tiny model from a real ``python -m soulchat`` run, a servable random-init
model, and ``soulchat serve`` as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-test-serve-0123456789abcdef"  # the bearer key of the keyed test server
#: a short real training run (the tiny model, ~40 steps): its model answers in the paper's format
TRAIN = ["stages=[train]", "train.max_steps=40", "train.warmup_steps=4", "train.val_every_n_steps=40",
         "train.checkpoint_every_n_steps=40", "train.val_max_samples=32", "generate.max_new_tokens=24"]


def soulchat(args, env=None, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soulchat", *args], cwd=REPO, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def trained_run(base: Path) -> dict:
    """``{"outputs", "hf", "run_id"}`` of a real training run under ``base`` (made once per session:
    the chat and serve test folders share it through the file system)."""
    outputs = base / "outputs"
    done = base / "trained.json"
    if done.exists():
        return {k: Path(v) if k != "run_id" else v for k, v in json.loads(done.read_text()).items()}
    proc = soulchat([*TRAIN, "tracking.experiment=chat-tests"], env={"SOULCHAT_OUTPUTS": str(outputs)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("chat-tests").experiment_id])[0]
    hf = Path(run.data.tags["stage.train.path"]) / "hf"
    info = {"outputs": str(outputs), "hf": str(hf), "run_id": run.info.run_id}
    done.write_text(json.dumps(info))
    return {"outputs": outputs, "hf": hf, "run_id": run.info.run_id}


def random_model(base: Path) -> Path:
    """A servable export (chat template, sampling, budget) of the tiny model at random init: it rarely
    samples eos, so every reply streams its whole ``max_tokens`` (made once per session)."""
    folder = base / "random" / "hf"
    if (folder / "config.json").exists():
        return folder
    from soulchat.config import compose
    from soulchat.train.export import save_hf
    from soulchat.train.fit import build_model

    cfg = compose([f"paths.outputs={base / 'random'}", "tracking.enabled=false"])
    _, tokenizer, model = build_model(cfg)
    save_hf(model, tokenizer, folder, cfg)
    return folder


def shared_base(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp() / "chat_shared"
    base.mkdir(exist_ok=True)
    return base


@contextlib.contextmanager
def serving(args, env=None, startup_s: float = 180):
    """``soulchat serve ARGS`` on a free port; yields ``(url, process, log file, startup lines)``
    (stderr goes to the log); stopped with SIGTERM after."""
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen([sys.executable, "-m", "soulchat", "serve", *args, "serve.port=0"], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        deadline = time.monotonic() + startup_s
        url, startup = None, []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            startup.append(line)
            if line.startswith("soulchat serve: http://"):
                url = line.split()[2].rstrip("/")
                break
        if url is None:
            log.seek(0)
            pytest.fail(f"soulchat serve did not start: {log.read()[-3000:]}")
        yield url, proc, log_path, "".join(startup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()
        log.close()


def get_json(url: str, headers=None) -> dict:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def post(url: str, body, headers=None, timeout: float = 120) -> tuple[int, dict | str]:
    """POST JSON (or raw bytes); ``(status, parsed body or text)``, 4xx/5xx included."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read().decode()
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


def sse_events(text: str) -> list:
    """The ``data:`` payloads of a server-sent-events body (JSON parsed; ``[DONE]`` kept as is)."""
    out = []
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith("data:"):
            data = block[5:].strip()
            out.append(data if data == "[DONE]" else json.loads(data))
    return out
