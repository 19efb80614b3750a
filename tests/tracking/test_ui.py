"""``soulchat ui`` serves the pipeline's store on 127.0.0.1 and says where."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from tracking_support import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ui_serves_the_store_on_localhost(outputs):
    from soulchat.tracking.tracker import Tracker

    with Tracker(f"sqlite:///{outputs}/mlflow.db", "ui_check", str(outputs / "mlartifacts"), "r1") as tr:
        tr.log_metrics({"evaluate/bleu-1": 0.25})
    port = free_port()
    env = {**os.environ, "SOULCHAT_OUTPUTS": str(outputs)}
    proc = subprocess.Popen([sys.executable, "-m", "soulchat", "ui", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui_check"
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert body is not None, f"the UI did not answer (exit {proc.poll()})"
        assert body["experiment"]["name"] == "ui_check"
        proc.send_signal(signal.SIGTERM)  # to soulchat ui alone: it must stop the server it started
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in out and str(outputs) in out
    from soulchat.tracking.ui import port_free

    deadline = time.monotonic() + 20
    while not port_free(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert port_free(port), "the MLflow server outlived soulchat ui"


def test_a_taken_port_is_said_at_once(outputs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "soulchat", "ui", "--port", str(port)], cwd=REPO,
                             env={**os.environ, "SOULCHAT_OUTPUTS": str(outputs)}, capture_output=True, text=True,
                             timeout=60)
    assert res.returncode == 2 and f"port {port} on 127.0.0.1 is taken" in res.stderr
    assert "open http" not in res.stdout
