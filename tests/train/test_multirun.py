"""A Hydra multirun whose jobs use a multi-process strategy runs each job once.

Lightning's own launcher would re-execute ``sys.argv`` for the other ranks, and in a multirun that
re-runs the whole sweep; our distributed jobs train in a torchrun group of plain worker processes.
"""

import pytest


@pytest.mark.slow
def test_multirun_with_two_process_ddp_runs_each_job_once(cli, outputs):
    res = cli(["-m", "stages=[rewrite,corpus,train]", "strategy=ddp", "train.devices=2",
               "train.max_steps=2", "train.global_batch_size=8", "train.micro_batch_size=4",
               "train.warmup_steps=2", "train.val_max_samples=8", "tracking.enabled=false",
               "model.hidden_size=32", "model.intermediate_size=64", "train.lr=1e-3,2e-3"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    jobs = sorted(p.name for p in (outputs / "multirun").glob("*/*/*") if p.is_dir())
    assert jobs == ["0", "1"], jobs  # no job was re-run by a worker
    trained = list((outputs / "cache" / "train").glob("*/_SUCCESS.json"))
    assert len(trained) == 2
    for marker in trained:
        folder = marker.parent
        assert (folder / "fit_done.json").read_text().count('"world_size": 2') == 1
        assert (folder / "hf" / "config.json").exists()
