"""``soulchat ui``: the MLflow dashboard over the pipeline's store, on 127.0.0.1 only.

    soulchat ui                               # outputs/mlflow.db, http://127.0.0.1:5000
    soulchat ui --port 5055 paths.outputs=/data/out
    soulchat ui tracking.uri=http://mlflow.example.org:5000   # a remote server: just prints its URL

Starts ``mlflow ui`` and prints the URL once the server answers; Ctrl-C or SIGTERM stops it and
every process it started. A port that is taken is said at once (exit 2). The store is the one the
pipeline writes to (the composed ``tracking`` section), so the same overrides apply.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"  # never expose the runs (and their configs) beyond this machine by default


def ui_command(uri: str, artifacts: str | None, port: int, workers: int = 1) -> list[str]:
    """The ``mlflow ui`` command line for a store (one worker: one person looks at it)."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", HOST, "--port", str(port),
           "--workers", str(workers)]
    if artifacts:
        cmd += ["--default-artifact-root", artifacts]
    return cmd


def main(argv: list[str] | None = None) -> int:
    from soulchat.tracking.redact import redact_text
    from soulchat.tracking.store import split_overrides, tracking_store
    from soulchat.tracking.tracker import ensure_store

    overrides, rest = split_overrides(argv or [])
    parser = argparse.ArgumentParser(prog="soulchat ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1, help="server processes (MLflow's default is 4)")
    args = parser.parse_args(rest)
    uri, artifacts, _ = tracking_store(overrides)
    if uri.startswith(("http://", "https://")):
        print(f"the runs are on a tracking server: {redact_text(uri)}", flush=True)
        return 0
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        print(f"no runs yet ({uri}); starting on an empty store", flush=True)
    if not port_free(args.port):
        print(f"port {args.port} on {HOST} is taken (another `soulchat ui`?); choose another: "
              f"soulchat ui --port {args.port + 1}", file=sys.stderr, flush=True)
        return 2
    ensure_store(uri)
    return serve(ui_command(uri, artifacts, args.port, args.workers), f"http://{HOST}:{args.port}", uri)


def port_free(port: int) -> bool:
    """No server listens on ``port`` (connections of a stopped server in TIME_WAIT do not count,
    as they do not stop the MLflow server from binding it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def serve(cmd: list[str], url: str, uri: str, wait_s: float = 180.0) -> int:
    """Run the server in its own process group; say the URL once it answers; on Ctrl-C or SIGTERM
    stop the whole group. Returns the server's exit status (0 when stopped by a signal)."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    stopping = []

    def stop(signum: int, frame: object) -> None:  # signal only: waiting here would deadlock proc.wait()
        stopping.append(signum)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        deadline = time.monotonic() + wait_s
        while proc.poll() is None and time.monotonic() < deadline and not stopping:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    print(f"MLflow UI for {uri}\n  open {url}   (Ctrl-C to stop)", flush=True)
                    break
            except OSError:
                time.sleep(0.5)
        else:
            if proc.poll() is None and not stopping:
                print(f"the MLflow UI did not answer at {url} within {wait_s:.0f} s; stopping it", file=sys.stderr)
                _stop_group(proc)
                return 1
        code = proc.wait()
        return 0 if stopping else code
    finally:
        _stop_group(proc)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
