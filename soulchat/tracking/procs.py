"""Which process a run belongs to, and runs left RUNNING by a process that is gone.

A process killed with SIGKILL (or a machine that lost power) never ends its MLflow run, which would
stay RUNNING forever. Every run carries the process id, its start time and the host as tags
(:func:`process_tags`); when a run starts, :func:`mark_vanished_runs` marks KILLED (MLflow's own
status) every RUNNING run of the store that was started on this host by a process that no longer
exists, with a ``soulchat.vanished`` tag saying when that was found. Runs of other hosts are left
alone: from here nobody can tell whether their process is alive.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

log = logging.getLogger(__name__)

PID, HOST, STARTED = "soulchat.pid", "soulchat.host", "soulchat.pid_started"
VANISHED = "soulchat.vanished"


def _started(pid: int) -> float | None:
    """The start time of process ``pid`` (seconds since the epoch), None if it is gone or a zombie."""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except ImportError:  # pragma: no cover - psutil comes with peft and deepspeed
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    except Exception:  # psutil.NoSuchProcess, AccessDenied on a vanished pid
        return None


def process_tags() -> dict[str, str]:
    """Tags that tell whether the run's process is alive: pid, its start time, host."""
    started = _started(os.getpid())
    return {PID: str(os.getpid()), HOST: socket.gethostname(), STARTED: f"{started or 0.0:.2f}"}


def is_alive(tags: dict[str, str]) -> bool:
    """Whether the process that the tags of a run of this host name is still running (the same process:
    a recycled pid has another start time)."""
    try:
        pid, recorded = int(tags[PID]), float(tags.get(STARTED) or 0.0)
    except (KeyError, ValueError):
        return True  # not ours to judge
    started = _started(pid)
    if started is None:
        return False
    return not (recorded and started and abs(started - recorded) > 1.0)


def mark_vanished_runs(client: Any) -> list[str]:
    """Mark KILLED the RUNNING runs of this store started on this host by a process that is gone.

    Returns their run ids. Errors of the store are logged, never raised: a run must not fail
    because an old one cannot be tidied.
    """
    from mlflow.entities import ViewType

    host = socket.gethostname()
    try:
        experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
        if not experiments:
            return []
        running = client.search_runs(experiments, f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'",
                                     run_view_type=ViewType.ALL, max_results=10000)
        found = []
        for run in running:
            if is_alive(run.data.tags):
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S %z")
            client.set_tag(run.info.run_id, VANISHED,
                           f"found {when}: process {run.data.tags[PID]} on {host} was gone")
            client.set_terminated(run.info.run_id, status="KILLED")
            found.append(run.info.run_id)
        if found:
            log.warning("marked KILLED %d MLflow run(s) whose process is gone: %s", len(found), ", ".join(found))
        return found
    except Exception as exc:
        log.warning("could not check the store for runs whose process is gone: %s", exc)
        return []
