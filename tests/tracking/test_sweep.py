"""Real multiruns: one parent MLflow run, one nested child per job, the swept values as params and
tags, no planted secret anywhere, a failed job FAILED while the sweep goes on (joblib processes),
Optuna trials as children, and ``soulchat compare`` reproducing the children's metrics."""

from __future__ import annotations

import csv
import math

import pytest
from tracking_support import (
    DEMO_QA,
    ENV_SET_TOKEN,
    FAST,
    SECRETS,
    TINY,
    URL_PASSWORD,
    client_for,
    files_containing,
    run_soulchat,
    runs_of,
)

from soulchat.tracking.redact import MASK


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The whole tiny pipeline, two jobs (generate.top_p=0.5,0.9: the second reuses rewrite, corpus
    and train from the cache), with secrets planted in the environment and in Hydra overrides (a URL
    with a password, a token); returns (outputs, completed process)."""
    out = tmp_path_factory.mktemp("sweep") / "outputs"
    res = run_soulchat(["-m", *TINY, "generate.top_p=0.5,0.9", "tracking.experiment=trk_sweep",
                        f"+hydra.job.env_set.PROXY_URL=http://user:{URL_PASSWORD}@127.0.0.1:9",
                        f"+hydra.job.env_set.MY_SERVICE_TOKEN={ENV_SET_TOKEN}"], out, env=SECRETS)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return out, res


def test_one_parent_and_a_nested_child_per_job(sweep):
    out, _ = sweep
    parents, children = runs_of(out, "trk_sweep")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweep.keys"] == "generate.top_p"
    assert parent.data.tags["sweep.jobs"] == "2" and parent.data.tags["sweep.failed"] == "0"
    by_top_p = {}
    for child in children:
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        assert child.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["soulchat.role"] == "job" and tags["experiment"] == "default" and tags["scale"] == "tiny"
        assert tags["choice.prompt"] == "soulchat" and tags["choice.model"] == "tiny"
        assert len(tags["git_commit"]) == 40 and tags["git_dirty"] in ("true", "false")
        assert params["generate.top_p"] == tags["sweep.generate.top_p"]  # the swept value: param and tag
        assert params["prompt.name"] == "soulchat" and params["train.max_steps"] == "4"
        assert "prompt.template_sha" in params and "prompt.template" not in params  # long text hashed
        assert not any(k.startswith(("paths.", "tracking.")) for k in params)
        assert 20 < len(params) < 200 and "force" not in params and "endpoint.rpm" not in params
        assert {"rewrite/dialogues", "corpus/samples_test", "evaluate/bleu-1", "evaluate/rouge-l"} <= set(metrics)
        assert any(k.startswith("train/") for k in metrics)
        by_top_p[float(params["generate.top_p"])] = child
    assert sorted(by_top_p) == [0.5, 0.9]
    first, second = by_top_p[0.5], by_top_p[0.9]
    assert first.data.tags["stage.train"] == "ran" and second.data.tags["stage.train"] == "cached"
    assert first.data.params["key.train"] == second.data.params["key.train"]
    assert first.data.params["key.generate"] != second.data.params["key.generate"]
    client = client_for(out)
    assert {a.path for a in client.list_artifacts(first.info.run_id, "config")} == {"config/resolved.yaml"}
    assert "evaluate/report.md" in {a.path for a in client.list_artifacts(first.info.run_id, "evaluate")}
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "compare")} == {
        "compare/compare.md", "compare/compare.csv", "compare/compare.png"}


def test_no_planted_secret_reaches_the_store_or_outputs(sweep):
    out, res = sweep
    secrets = [*SECRETS.values(), URL_PASSWORD, ENV_SET_TOKEN]
    assert files_containing(out, secrets) == []
    assert not any(s in res.stdout + res.stderr for s in secrets)
    # the places they would have leaked into hold the mask instead (so the search above means something)
    job_dir = next(out.glob("multirun/*/*/0"))
    hydra_yaml = (job_dir / ".hydra" / "hydra.yaml").read_text()
    assert f"PROXY_URL=http://user:{MASK}@" in hydra_yaml and f"MY_SERVICE_TOKEN={MASK}" in hydra_yaml
    assert MASK in next(out.glob("multirun/*/*/multirun.yaml")).read_text()


def test_compare_reproduces_the_children_metrics(sweep, monkeypatch, capsys):
    from soulchat.tracking import compare

    out, _ = sweep
    parents, children = runs_of(out, "trk_sweep")
    monkeypatch.setenv("SOULCHAT_OUTPUTS", str(out))
    assert compare.main([parents[0].info.run_id, "--out", str(out / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "| B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |" in printed  # Table 1's layout
    with open(out / "cmp" / "compare.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and (out / "cmp" / "compare.png").stat().st_size > 1000
    for child in children:
        row = next(r for r in rows if r["model"] == child.info.run_name)  # "job0 generate.top_p=0.5"
        assert child.info.run_name.endswith(f"generate.top_p={child.data.tags['sweep.generate.top_p']}")
        evaluated = {k[len("evaluate/"):]: v for k, v in child.data.metrics.items() if k.startswith("evaluate/")}
        assert {"bleu-1", "bleu-4", "rouge-1", "rouge-2", "rouge-l"} <= set(evaluated)
        for name, value in evaluated.items():
            assert math.isclose(float(row[name]), value, rel_tol=1e-9, abs_tol=1e-12), name
    # by experiment name: its latest sweep
    assert compare.main(["trk_sweep", "--out", str(out / "cmp2")]) == 0
    assert (out / "cmp2" / "compare.csv").read_text() == (out / "cmp" / "compare.csv").read_text()
    assert compare.main(["no_such_experiment"]) == 2


def test_a_failed_single_run_exits_non_zero_and_is_failed(outputs):
    res = run_soulchat([*FAST, f"rewrite.source={outputs}/nope.jsonl", "tracking.experiment=trk_single",
                        f"endpoint.base_url=http://user:{URL_PASSWORD}@127.0.0.1:9/v1"], outputs, env=SECRETS)
    assert res.returncode != 0
    parents, runs = runs_of(outputs, "trk_single")
    assert parents == [] and len(runs) == 1
    assert runs[0].info.status == "FAILED" and "nope.jsonl" in runs[0].data.tags["error"]
    assert "mlflow.parentRunId" not in runs[0].data.tags
    assert files_containing(outputs, [*SECRETS.values(), URL_PASSWORD]) == []  # .hydra/ of a single run too
    assert MASK in next(outputs.glob("runs/*/*/.hydra/overrides.yaml")).read_text()


def test_a_failed_job_is_failed_and_the_sweep_goes_on_in_joblib_workers(outputs):
    missing = outputs / "missing" / "qa.jsonl"
    res = run_soulchat(["-m", *FAST, "rewrite.limit=2", f"rewrite.source={missing},{DEMO_QA}",
                        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "tracking.experiment=trk_fail"], outputs)
    assert res.returncode == 1, (res.stdout + res.stderr)[-4000:]  # every job ran, then the exit says it
    assert "1 of 2 jobs failed" in res.stdout + res.stderr
    parents, children = runs_of(outputs, "trk_fail")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.data.tags["sweep.launcher"] == "joblib" and parent.data.tags["sweep.failed"] == "1"
    assert parent.info.status == "FAILED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}  # other processes
    by_source = {c.data.tags["sweep.rewrite.source"]: c for c in children}
    bad, good = by_source[str(missing)], by_source[str(DEMO_QA)]
    assert good.info.status == "FINISHED" and good.data.metrics["rewrite/dialogues"] == 2
    assert bad.info.status == "FAILED" and str(missing) in bad.data.tags["error"]
    text = client_for(outputs).download_artifacts(bad.info.run_id, "error.txt", str(outputs / "dl"))
    assert "Traceback" in open(text, encoding="utf-8").read()


def test_a_job_that_fails_before_opening_its_run_still_fails_the_sweep(outputs):
    res = run_soulchat(["-m", *FAST, "rewrite.limit=2", "train.warmup_steps=0,1000000",
                        "tracking.experiment=trk_unopened"], outputs)
    assert res.returncode == 1, (res.stdout + res.stderr)[-4000:]
    assert "1 of 2 jobs failed" in res.stdout + res.stderr
    parents, children = runs_of(outputs, "trk_unopened")
    assert len(parents) == 1 and len(children) == 1 and children[0].info.status == "FINISHED"
    assert parents[0].info.status == "FAILED" and parents[0].data.tags["sweep.failed"] == "1"
    assert parents[0].data.tags["sweep.jobs"] == "2"


def test_optuna_trials_are_children_and_the_result_is_on_the_parent(outputs):
    res = run_soulchat(["-m", *FAST, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
                        "hydra.sweeper.direction=maximize", "rewrite.limit=choice(2,3)",
                        "objective=rewrite/dialogues", "tracking.experiment=trk_optuna"], outputs)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    parents, children = runs_of(outputs, "trk_optuna")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.data.tags["sweep.sweeper"] == "optuna" and parent.data.tags["sweep.keys"] == "rewrite.limit"
    for child in children:
        assert child.data.metrics["rewrite/dialogues"] == int(child.data.tags["sweep.rewrite.limit"])
    arts = {a.path for a in client_for(outputs).list_artifacts(parent.info.run_id, "sweep")}
    assert arts == {"sweep/optimization_results.yaml"}
