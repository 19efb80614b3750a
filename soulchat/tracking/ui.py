"""``soulchat ui``: the MLflow dashboard over the pipeline's store, on 127.0.0.1 only.

    soulchat ui                               # outputs/mlflow.db, http://127.0.0.1:5000
    soulchat ui --port 5055 paths.outputs=/data/out
    soulchat ui tracking.uri=http://mlflow.example.org:5000   # a remote server: just prints its URL

Runs ``mlflow ui`` in the foreground (Ctrl-C stops it) after printing the URL. The store is the
one the pipeline writes to (the composed ``tracking`` section), so the same overrides apply.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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
    ensure_store(uri)
    url = f"http://{HOST}:{args.port}"
    print(f"MLflow UI for {uri}\n  open {url}   (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(ui_command(uri, artifacts, args.port, args.workers))
    except KeyboardInterrupt:
        return 0
