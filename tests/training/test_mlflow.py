"""MLflow mirrors each training run (read back with a real MlflowClient); Django stays the truth."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from mlflow.tracking import MlflowClient

from tests.factories.products import dataset_version_from_catalog
from tests.factories.training import FAST_HYPERPARAMETERS
from training.models import TrainingRun
from training.services import training_run_cancel, training_run_create, training_run_execute
from training.tracking import numeric_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset_version():
    return dataset_version_from_catalog(products=100)


def _run(dataset_version, **hyperparameters) -> TrainingRun:
    return training_run_create(
        dataset_version=dataset_version,
        preset="tiny",
        hyperparameters={**FAST_HYPERPARAMETERS, **hyperparameters},
        trigger=TrainingRun.Trigger.MANUAL,
    )


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)


def test_a_run_logs_params_epoch_metrics_final_metrics_artifact_tags_and_dataset(dataset_version):
    training_run = training_run_execute(training_run_id=_run(dataset_version).pk)
    assert training_run.status == TrainingRun.Status.SUCCEEDED

    client = _client()
    mlflow_run = client.get_run(training_run.mlflow_run_id)

    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.info.run_name == f"training-run-{training_run.pk}"
    experiment = client.get_experiment(mlflow_run.info.experiment_id)
    assert experiment.name == settings.MLFLOW_EXPERIMENT_NAME
    assert experiment.artifact_location == settings.MLFLOW_ARTIFACT_ROOT
    params = mlflow_run.data.params
    assert params["preset"] == "tiny"
    assert params["epochs"] == "2"
    assert params["batch_size"] == "32"
    assert params["learning_rate"] == str(training_run.hyperparameters["learning_rate"])
    assert set(training_run.hyperparameters) <= set(params)
    assert params["dataset_version"] == str(dataset_version.number)
    assert params["dataset_sha256"] == dataset_version.sha256
    tags = mlflow_run.data.tags
    assert tags["creativeops.training_run_id"] == str(training_run.pk)
    assert tags["creativeops.dataset_version"] == str(dataset_version.number)
    metrics = mlflow_run.data.metrics
    assert metrics["rouge_l"] == pytest.approx(training_run.metrics["rouge_l"])
    assert metrics["baseline_rouge_l"] == pytest.approx(training_run.metrics["baseline_rouge_l"])
    for name in ("ood_foreign_brand_rate", "ood_own_fact_rate", "ood_number_fidelity"):
        assert metrics[name] == pytest.approx(training_run.metrics[name]), name
    train_loss = client.get_metric_history(training_run.mlflow_run_id, "train_loss")
    per_epoch = sorted((point.step, point.value) for point in train_loss if point.step in (1, 2))
    assert [step for step, _ in per_epoch[:2]] == [1, 2]
    assert per_epoch[0][1] == pytest.approx(training_run.epoch_history[0]["train_loss"])
    val_loss = client.get_metric_history(training_run.mlflow_run_id, "val_loss")
    assert {point.step for point in val_loss} >= {1, 2}

    [dataset_input] = mlflow_run.inputs.dataset_inputs
    assert dataset_input.dataset.name == f"catalog-v{dataset_version.number}"
    assert dataset_input.dataset.digest == dataset_version.sha256[:16]
    # MLflow keeps one dataset per (experiment, name, digest), so the source is the file's name in
    # artifact storage (its folder differs between tests that snapshot the same catalog).
    assert dataset_input.dataset.source.endswith(f'/artifacts/{dataset_version.file}"}}')
    assert {tag.key: tag.value for tag in dataset_input.tags}["mlflow.data.context"] == "training"

    artifacts = {item.path for item in client.list_artifacts(training_run.mlflow_run_id, "model")}
    assert "model/manifest.json" in artifacts
    assert "model/model.safetensors" in artifacts


def test_failed_and_cancelled_runs_close_their_mlflow_runs(dataset_version):
    failing = _run(dataset_version, eval_max_items=0)

    def crash(update):
        raise RuntimeError("simulated crash in step 1")

    failed = training_run_execute(training_run_id=failing.pk, progress_listener=crash)
    assert failed.status == TrainingRun.Status.FAILED
    assert _client().get_run(failed.mlflow_run_id).info.status == "FAILED"

    cancelling = _run(dataset_version, eval_max_items=0)

    def cancel(update):
        training_run_cancel(training_run=cancelling)

    cancelled = training_run_execute(training_run_id=cancelling.pk, progress_listener=cancel)
    assert cancelled.status == TrainingRun.Status.CANCELLED
    assert _client().get_run(cancelled.mlflow_run_id).info.status == "KILLED"


def test_training_succeeds_without_mlflow_when_the_server_is_unreachable(
    dataset_version, settings, monkeypatch, caplog
):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    caplog.set_level(logging.WARNING, logger="training.tracking")

    training_run = training_run_execute(training_run_id=_run(dataset_version, eval_max_items=0).pk)

    assert training_run.status == TrainingRun.Status.SUCCEEDED, training_run.error
    assert training_run.mlflow_run_id == ""
    assert training_run.artifact_uri == f"models/run-{training_run.pk}"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1  # one warning, then tracking is off for the run
    assert warnings[0].startswith(f"MLflow run creation failed for training run #{training_run.pk} (")
    assert warnings[0].endswith("the run continues without MLflow tracking.")


def test_numeric_metrics_keeps_finite_numbers_and_flattens_nesting():
    flat = numeric_metrics(
        {
            "rouge_l": 0.5,
            "items": 4,
            "nan": float("nan"),
            "split": "test",
            "gate": {"passed": True, "delta": -0.1},
        }
    )
    assert flat == {"rouge_l": 0.5, "items": 4.0, "gate.passed": 1.0, "gate.delta": -0.1}
