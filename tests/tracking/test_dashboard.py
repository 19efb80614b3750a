"""What the dashboard shows: experiments open on their runs (not the GenAI overview), the corpus
as a dataset input and the trained model as a logged model of the run."""

from __future__ import annotations

from mlflow import MlflowClient

from soulchat.tracking.tracker import Tracker


def test_experiment_kind_dataset_and_model_columns(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with Tracker(uri, "dash", str(tmp_path / "art"), "r1") as tracker:
        tracker.log_dataset("corpus", "0123abcd", str(tmp_path / "cache" / "corpus" / "0123abcd"))
        tracker.log_model("tiny-9f", str(tmp_path / "cache" / "train" / "9f" / "hf"), {"finetune": "full"})
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("dash")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.get_run(tracker.run_id)
    (ds,) = run.inputs.dataset_inputs
    assert (ds.dataset.name, ds.dataset.digest) == ("corpus", "0123abcd")
    (model,) = client.search_logged_models([exp.experiment_id])
    assert model.source_run_id == tracker.run_id and model.name == "tiny-9f"
    assert [o.model_id for o in run.outputs.model_outputs] == [model.model_id]


def test_an_existing_experiment_gets_the_kind_too(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    client.create_experiment("old", artifact_location=str(tmp_path / "art" / "old"))
    Tracker(uri, "old", str(tmp_path / "art"), "r").finish()
    assert client.get_experiment_by_name("old").tags["mlflow.experimentKind"] == "custom_model_development"
