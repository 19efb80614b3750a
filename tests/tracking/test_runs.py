"""Runs as processes: several started together on one fresh outputs/ folder, a run killed with
SIGKILL, run names. Real CLI processes, a real SQLite MLflow store, a real local HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tracking_support import FAST, REPO, client_for, run_soulchat, runs_of

from soulchat.testing.llm_server import TestServer


def start(args: list[str], outputs, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "SOULCHAT_OUTPUTS": str(outputs), **(env or {})}
    full_env.pop("SOULCHAT_PARENT_RUN_ID", None)
    return subprocess.Popen([sys.executable, "-m", "soulchat", *args], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_runs_started_together_on_a_fresh_folder_all_succeed(tmp_path):
    out = tmp_path / "outputs"
    procs = [start([*FAST, "rewrite.limit=2", "tracking.experiment=trk_together"], out) for _ in range(3)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(log[-2000:] for log in logs)
    folders = sorted(out.glob("runs/*/*"))
    assert len(folders) == 3 and all((f / "run.json").is_file() for f in folders)
    _, runs = runs_of(out, "trk_together")
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    names = [r.info.run_name for r in runs]
    assert len(set(names)) == 3 and all(n.startswith("trk_together stages=[rewrite] rewrite.limit=2 ") for n in names), names
    again = run_soulchat([*FAST, "rewrite.limit=2", "tracking.experiment=trk_together"], out)  # a healthy store
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert len(runs_of(out, "trk_together")[1]) == 4


def wait_for_run_id(outputs, proc: subprocess.Popen, timeout: float = 120) -> str:
    """The MLflow run id a running job logged to its run folder's app.log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        for log in outputs.glob("runs/*/*/app.log"):
            for line in log.read_text(encoding="utf-8").splitlines():
                if "mlflow run " in line:
                    return line.rsplit("mlflow run ", 1)[1].split()[0]
        time.sleep(0.3)
    raise AssertionError("the run logged no MLflow run id")


def test_a_run_killed_with_sigkill_is_marked_killed_by_the_next_start_and_live_ones_are_not(tmp_path):
    out = tmp_path / "outputs"
    experiment = "tracking.experiment=trk_killed"
    with TestServer(latency=300) as server:  # every answer takes 5 minutes: the run waits
        hanging = start(["stages=[rewrite]", "rewrite.limit=1", *server.overrides(timeout_s=600), experiment],
                        out, env={"OPENAI_API_KEY": "anything"})
        try:
            run_id = wait_for_run_id(out, hanging)
            beside = run_soulchat([*FAST, "rewrite.limit=1", experiment], out)  # while it is alive
            assert beside.returncode == 0, beside.stdout[-2000:] + beside.stderr[-2000:]
            assert client_for(out).get_run(run_id).info.status == "RUNNING"  # alive: left alone
        finally:
            hanging.send_signal(signal.SIGKILL)
            hanging.communicate(timeout=60)
        after = run_soulchat([*FAST, "rewrite.limit=1", experiment, "tracking.run_name=after the kill"], out)
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    killed = client_for(out).get_run(run_id)
    assert killed.info.status == "KILLED" and killed.info.end_time is not None
    assert f"process {hanging.pid}" in killed.data.tags["soulchat.vanished"]
    _, runs = runs_of(out, "trk_killed")
    assert {r.info.status for r in runs if r.info.run_id != run_id} == {"FINISHED"}
    names = [r.info.run_name for r in runs]
    assert len(set(names)) == 3 and "after the kill" in names


def test_sweep_folders_are_unique_per_sweep_and_shared_by_its_jobs():
    """hydra.sweep.dir ends with a suffix fixed for a sweep's process and the job processes it starts
    (inherited through the environment), and different for two sweeps started in the same second."""
    import subprocess
    import sys

    code = ("from soulchat.config import compose; from omegaconf import OmegaConf; "
            "c = compose(return_hydra_config=True); print(c.hydra.sweep.dir)")
    env = {k: v for k, v in os.environ.items() if k != "SOULCHAT_SWEEP_SUFFIX"}
    one, two = (subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                               timeout=120).stdout.strip() for _ in range(2))
    assert one and two and one.rsplit("-", 1)[1] != two.rsplit("-", 1)[1]
    child = subprocess.run([sys.executable, "-c", code], env={**env, "SOULCHAT_SWEEP_SUFFIX": "abc123"},
                           capture_output=True, text=True, timeout=120).stdout.strip()
    assert child.endswith("-abc123")
