"""Training services: creating, executing (tiny real trainings), cancelling, locking and reaping runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, default_storage
from django.db import connections
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.core.locks import lock_key
from products.models import DatasetVersion
from tests.factories.products import DatasetVersionFactory, dataset_version_from_catalog
from tests.factories.training import FAST_HYPERPARAMETERS, TrainingRunFactory
from tests.factories.users import make_user
from training import storage
from training.ml import PRESETS, sha256_of_directory, verify_artifact
from training.models import TrainingRun
from training.services import (
    training_config_resolve,
    training_run_cancel,
    training_run_create,
    training_run_execute,
    training_runs_reap_stale,
)
from training.services.execution import TRAINING_LOCK_NAME

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset_version():
    return dataset_version_from_catalog(products=100)


def _create(dataset_version, **hyperparameters) -> TrainingRun:
    return training_run_create(
        dataset_version=dataset_version,
        preset="tiny",
        hyperparameters={**FAST_HYPERPARAMETERS, **hyperparameters},
        trigger=TrainingRun.Trigger.MANUAL,
    )


def _staging_leftovers() -> list[Path]:
    staging = Path(default_storage.path(storage.STAGING_PREFIX))
    return list(staging.iterdir()) if staging.exists() else []


# --------------------------------------------------------------------------------------------
# Creating runs
# --------------------------------------------------------------------------------------------


def test_create_merges_hyperparameters_over_the_preset(dataset_version):
    actor = make_user("ml-engineer")
    training_run = training_run_create(
        dataset_version=dataset_version,
        preset="tiny",
        hyperparameters={"epochs": 3, "learning_rate": 0.01},
        trigger=TrainingRun.Trigger.API,
        actor=actor,
    )
    training_run.refresh_from_db()
    expected = PRESETS["tiny"].with_overrides(epochs=3, learning_rate=0.01).to_dict()
    expected.pop("preset")
    assert training_run.hyperparameters == expected
    assert training_run.status == TrainingRun.Status.QUEUED
    assert training_run.triggered_by == actor
    assert training_run.trigger == "api"
    assert len(training_run.celery_task_id) == 36


@pytest.mark.parametrize(
    ("preset", "hyperparameters", "message", "field"),
    [
        ("huge", {}, "Unknown preset 'huge'; choose one of: tiny, small, base.", "preset"),
        (
            "tiny",
            {"epoch": 3},
            "Unknown hyperparameter 'epoch'; allowed: batch_size, d_ff",
            "hyperparameters",
        ),
        (
            "tiny",
            {"epochs": "three"},
            "Hyperparameter 'epochs' must be a whole number, got 'three'.",
            "hyperparameters",
        ),
        (
            "tiny",
            {"epochs": 2.5},
            "Hyperparameter 'epochs' must be a whole number, got 2.5.",
            "hyperparameters",
        ),
        (
            "tiny",
            {"learning_rate": True},
            "Hyperparameter 'learning_rate' must be a number, got True.",
            "hyperparameters",
        ),
        (
            "tiny",
            {"epochs": 5000},
            "Hyperparameter 'epochs' must be between 1 and 500, got 5000.",
            "hyperparameters",
        ),
        ("tiny", {"epochs": None}, "Hyperparameter 'epochs' cannot be null.", "hyperparameters"),
        (
            "tiny",
            {"preset": "small"},
            "Set the preset with the 'preset' field, not inside hyperparameters.",
            "hyperparameters",
        ),
        (
            "tiny",
            {"d_model": 66, "n_heads": 4},
            "Invalid hyperparameters: d_model (66) must be divisible by n_heads (4).",
            "hyperparameters",
        ),
    ],
)
def test_create_refuses_bad_configuration(preset, hyperparameters, message, field):
    dataset_version = DatasetVersionFactory()
    with pytest.raises(ApplicationError) as refusal:
        training_run_create(
            dataset_version=dataset_version,
            preset=preset,
            hyperparameters=hyperparameters,
            trigger=TrainingRun.Trigger.MANUAL,
        )
    assert refusal.value.message.startswith(message)
    assert refusal.value.field == field
    assert not TrainingRun.objects.exists()


def test_create_refuses_golden_and_pruned_datasets_and_unknown_triggers():
    golden = DatasetVersionFactory(kind=DatasetVersion.Kind.GOLDEN, number=70_001)
    with pytest.raises(ApplicationError) as refusal:
        training_run_create(dataset_version=golden, preset="tiny", trigger="manual")
    assert refusal.value.message == (
        "Dataset v70001 is a Golden evaluation set (never trained on); "
        "train on a training snapshot of the catalog."
    )
    pruned = DatasetVersionFactory(number=70_002, pruned_at=timezone.now())
    with pytest.raises(ApplicationError, match="Dataset v70002 was removed by retention on"):
        training_run_create(dataset_version=pruned, preset="tiny", trigger="manual")
    with pytest.raises(ApplicationError) as refusal:
        training_run_create(dataset_version=DatasetVersionFactory(), preset="tiny", trigger="cron")
    assert refusal.value.message == "Unknown trigger 'cron'; choose one of: schedule, manual, api."
    assert refusal.value.field == "trigger"
    assert not TrainingRun.objects.exists()


def test_config_resolve_accepts_integral_floats_and_nullable_fields():
    config = training_config_resolve(preset="small", hyperparameters={"epochs": 4.0, "max_steps": None})
    assert config.epochs == 4
    assert isinstance(config.epochs, int)
    assert config.max_steps is None
    assert config.preset == "small"


# --------------------------------------------------------------------------------------------
# Executing runs (real tiny trainings)
# --------------------------------------------------------------------------------------------


def test_execute_trains_publishes_the_artifact_and_records_everything(dataset_version):
    training_run = _create(dataset_version)

    executed = training_run_execute(training_run_id=training_run.pk)

    executed.refresh_from_db()
    assert executed.status == TrainingRun.Status.SUCCEEDED, executed.error
    assert executed.error == ""
    assert executed.artifact_uri == f"models/run-{executed.pk}"
    folder = storage.artifact_local_path(executed.artifact_uri)
    assert folder == Path(default_storage.path(f"models/run-{executed.pk}"))
    manifest = verify_artifact(folder)
    assert executed.artifact_sha256 == sha256_of_directory(folder)
    assert manifest["dataset"]["number"] == dataset_version.number
    assert manifest["dataset"]["sha256"] == dataset_version.sha256
    assert [epoch["epoch"] for epoch in executed.epoch_history] == [1, 2]
    assert all(epoch["train_loss"] > 0 and epoch["val_loss"] > 0 for epoch in executed.epoch_history)
    for name in ("rouge_l", "fact_fidelity", "distinct_2", "baseline_rouge_l", "val_loss", "eval_loss"):
        assert isinstance(executed.metrics[name], float), name
    assert executed.metrics["eval_items"] == 4
    # the out-of-distribution set, scored beside the test split (one tone per product, capped like it)
    assert executed.metrics["ood_items"] == 4
    for name in ("ood_foreign_brand_rate", "ood_own_fact_rate", "ood_distinct_2"):
        assert 0.0 <= executed.metrics[name] <= 1.0, name
    assert executed.metrics["ood_number_fidelity"] == 1.0  # the number guard's promise, whatever the model
    assert manifest["evaluation"]["ood"]["items"] == 4
    assert manifest["fact_vocabulary"]["brands"]  # what the generator's fact guard knows
    assert executed.step == executed.total_steps == executed.metrics["steps"]
    assert executed.eta_seconds == 0.0
    assert executed.parameter_count == executed.metrics["parameter_count"] > 0
    assert executed.started_at <= executed.heartbeat_at <= executed.finished_at
    assert executed.worker
    assert executed.mlflow_run_id
    assert _staging_leftovers() == []


def test_execute_is_idempotent_for_finished_runs(dataset_version):
    for status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED):
        training_run = TrainingRunFactory(dataset_version=dataset_version, status=status, error="kept")
        returned = training_run_execute(training_run_id=training_run.pk)
        returned.refresh_from_db()
        assert (returned.status, returned.error, returned.started_at) == (status, "kept", None)


def test_execute_does_not_start_a_run_that_is_live_elsewhere(dataset_version):
    training_run = TrainingRunFactory(dataset_version=dataset_version, running=True)
    before = TrainingRun.objects.values().get(pk=training_run.pk)

    returned = training_run_execute(training_run_id=training_run.pk, lock_wait_seconds=0)

    assert returned.status == TrainingRun.Status.RUNNING
    assert TrainingRun.objects.values().get(pk=training_run.pk) == before


def test_execute_restarts_a_run_whose_worker_stopped_beating(dataset_version):
    stale = timezone.now() - timedelta(minutes=30)
    training_run = _create(dataset_version, eval_max_items=0)
    TrainingRun.objects.filter(pk=training_run.pk).update(
        status=TrainingRun.Status.RUNNING, worker="celery@lost", started_at=stale, heartbeat_at=stale, step=7
    )

    restarted = training_run_execute(training_run_id=training_run.pk)

    assert restarted.status == TrainingRun.Status.SUCCEEDED
    assert restarted.error.startswith("Restarted at ")
    assert "worker celery@lost had stopped." in restarted.error
    assert restarted.started_at > stale
    assert restarted.worker != "celery@lost"


def test_execute_refuses_a_changed_dataset_file_and_leaves_no_artifact(dataset_version):
    training_run = _create(dataset_version)
    with default_storage.open(dataset_version.file, "wb") as handle:
        handle.write(b"not the parquet file that was snapshotted")

    failed = training_run_execute(training_run_id=training_run.pk)

    assert failed.status == TrainingRun.Status.FAILED
    assert failed.error.startswith(
        f"Dataset v{dataset_version.number} file {dataset_version.file} has SHA-256 "
    )
    assert (
        f"but v{dataset_version.number} recorded {dataset_version.sha256}; refusing to read a changed file."
        in (failed.error)
    )
    assert "\n\nTraceback (last 4000 characters):\n" in failed.error
    assert failed.finished_at is not None
    assert failed.artifact_uri == ""
    assert not default_storage.exists(f"models/run-{training_run.pk}")
    assert _staging_leftovers() == []


def test_an_error_during_training_fails_the_run_and_removes_the_partial_work(dataset_version):
    training_run = _create(dataset_version)

    def disk_full_at_epoch_end(update):
        if update.epoch_metrics:
            raise OSError(28, "No space left on device")

    failed = training_run_execute(training_run_id=training_run.pk, progress_listener=disk_full_at_epoch_end)

    assert failed.status == TrainingRun.Status.FAILED
    assert failed.error.startswith("OSError: [Errno 28] No space left on device\n\nTraceback")
    assert "disk_full_at_epoch_end" in failed.error
    assert len(failed.epoch_history) == 1  # the epoch that finished before the failure
    assert not default_storage.exists(f"models/run-{training_run.pk}")
    assert _staging_leftovers() == []


def test_cancel_stops_a_running_training_at_the_next_step(dataset_version):
    operator = make_user("cancelling-operator")
    training_run = _create(dataset_version)
    seen_steps = []

    def cancel_at_step_three(update):
        seen_steps.append(update.step)
        if update.step == 3:
            training_run_cancel(training_run=training_run, actor=operator)

    stopped = training_run_execute(training_run_id=training_run.pk, progress_listener=cancel_at_step_three)

    assert stopped.status == TrainingRun.Status.CANCELLED
    assert seen_steps == [1, 2, 3]  # the step after the cancel raised before reaching the listener
    assert stopped.error.startswith("Cancelled by cancelling-operator at ")
    assert stopped.error.endswith(
        f"Training stopped at step {stopped.step} of {stopped.total_steps}; no artifact was kept."
    )
    assert stopped.step <= 4
    assert stopped.artifact_uri == ""
    assert not default_storage.exists(f"models/run-{training_run.pk}")
    assert _staging_leftovers() == []


def test_a_cancelled_queued_run_never_starts():
    training_run = TrainingRunFactory()
    cancelled = training_run_cancel(training_run=training_run)
    assert cancelled.status == TrainingRun.Status.CANCELLED
    assert cancelled.error.startswith("Cancelled by the system at ")

    returned = training_run_execute(training_run_id=training_run.pk)

    assert returned.status == TrainingRun.Status.CANCELLED
    assert returned.started_at is None and returned.worker == ""


def test_cancel_refuses_finished_runs():
    training_run = TrainingRunFactory(succeeded=True)
    with pytest.raises(ApplicationError) as refusal:
        training_run_cancel(training_run=training_run)
    assert refusal.value.message == (
        f"Training run #{training_run.pk} is succeeded; only queued or running runs can be cancelled."
    )
    assert refusal.value.status_code == 409
    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.SUCCEEDED


def test_execute_of_a_missing_run_is_a_404():
    with pytest.raises(ApplicationError) as refusal:
        training_run_execute(training_run_id=987654)
    assert refusal.value.message == "Training run #987654 does not exist."
    assert refusal.value.status_code == 404


# --------------------------------------------------------------------------------------------
# One training at a time
# --------------------------------------------------------------------------------------------


def test_a_second_run_is_refused_while_another_holds_the_lease(settings):
    """SQLite (no advisory locks): the live running row is the lease."""
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses the advisory lock; see the next test")
    holder = TrainingRunFactory(running=True)
    waiting = TrainingRunFactory()

    refused = training_run_execute(training_run_id=waiting.pk, lock_wait_seconds=0)

    assert refused.status == TrainingRun.Status.FAILED
    assert refused.error == (
        f"Not started: training run #{holder.pk} (running since {holder.started_at:%Y-%m-%d %H:%M:%S %Z} on "
        "celery@training-1) holds the training slot, and only one model trains at a time. Waited 0 s for it. "
        "Start this run again when that training has finished."
    )
    assert refused.started_at is None
    holder.refresh_from_db()
    assert holder.status == TrainingRun.Status.RUNNING


def test_a_second_run_waits_for_the_advisory_lock_then_gives_up(on_postgres):
    holder = TrainingRunFactory(running=True)
    waiting = TrainingRunFactory()
    other_session = connections.create_connection("default")
    try:
        with other_session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock_key(TRAINING_LOCK_NAME)])

        refused = training_run_execute(training_run_id=waiting.pk, lock_wait_seconds=1.5)

        assert refused.status == TrainingRun.Status.FAILED
        assert refused.error.startswith(f"Not started: training run #{holder.pk} (running since ")
        assert "Waited 1.5 s for it." in refused.error
    finally:
        other_session.close()


def test_the_advisory_lock_is_released_after_a_run(on_postgres, dataset_version):
    training_run = _create(dataset_version, eval_max_items=0)
    training_run_execute(training_run_id=training_run.pk)
    other_session = connections.create_connection("default")
    try:
        with other_session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(TRAINING_LOCK_NAME)])
            assert cursor.fetchone()[0] is True
    finally:
        other_session.close()


# --------------------------------------------------------------------------------------------
# The reaper
# --------------------------------------------------------------------------------------------


def test_reaper_fails_runs_without_heartbeat_and_leaves_live_ones(settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "STALE_RUN_MINUTES": 10}
    beat = timezone.now() - timedelta(minutes=11)
    stale = TrainingRunFactory(running=True, heartbeat_at=beat, worker="celery@gone")
    live = TrainingRunFactory(running=True)
    queued = TrainingRunFactory()
    finished = TrainingRunFactory(succeeded=True, heartbeat_at=beat)

    assert training_runs_reap_stale() == [stale.pk]

    stale.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED
    assert stale.error == (
        f"Worker celery@gone stopped sending heartbeats at {beat:%Y-%m-%d %H:%M:%S %Z} (step 15 of 60); "
        "marked failed by the reaper after 10 minutes without one."
    )
    assert stale.finished_at is not None
    for untouched, status in ((live, "running"), (queued, "queued"), (finished, "succeeded")):
        untouched.refresh_from_db()
        assert untouched.status == status
    assert training_runs_reap_stale(stale_after=timedelta(hours=1)) == []


def test_reaper_removes_the_dead_runs_staging_folder():
    stale = TrainingRunFactory(running=True, heartbeat_at=timezone.now() - timedelta(hours=2))
    folder = storage.staging_directory(stale.pk)
    (folder / "partial.bin").write_bytes(b"half a model")
    other = storage.staging_directory(stale.pk + 1000)

    training_runs_reap_stale()

    assert not folder.exists()
    assert other.exists()


# --------------------------------------------------------------------------------------------
# Artifact storage
# --------------------------------------------------------------------------------------------


def test_artifact_paths_never_leave_artifact_storage():
    for uri in ("../etc", "/etc/passwd", "", "models/../../x"):
        with pytest.raises(ApplicationError, match="is not a relative path inside artifact storage"):
            storage.artifact_local_path(uri)
    with pytest.raises(ApplicationError) as missing:
        storage.artifact_local_path("models/run-404")
    assert missing.value.status_code == 404


def test_publishing_replaces_a_leftover_of_an_earlier_attempt():
    leftover = Path(default_storage.path("models/run-5"))
    leftover.mkdir(parents=True)
    (leftover / "stale.bin").write_bytes(b"old")
    staged = storage.staging_directory(5)
    (staged / "manifest.json").write_text("{}")

    name = storage.model_artifact_publish(local_dir=staged, training_run_id=5)

    assert name == "models/run-5"
    assert sorted(path.name for path in leftover.iterdir()) == ["manifest.json"]
    assert not staged.exists()


def test_remote_storage_uploads_and_reads_back_a_verified_copy(monkeypatch, settings, tmp_path):
    """A storage without local paths (like S3): upload on publish, download once on read."""
    remote = InMemoryStorage()
    monkeypatch.setattr(storage, "default_storage", remote)
    settings.DATA_DIR = tmp_path / "data"
    staged = tmp_path / "staged"
    (staged / "tokenizer").mkdir(parents=True)
    (staged / "weights.safetensors").write_bytes(b"\x00\x01weights")
    (staged / "tokenizer" / "vocab.json").write_text('{"a": 1}')

    name = storage.model_artifact_publish(local_dir=staged, training_run_id=9)

    assert name == "models/run-9"
    assert remote.exists("models/run-9/tokenizer/vocab.json")
    assert storage.artifact_exists(name)
    local = storage.artifact_local_path(name)
    assert local == tmp_path / "data" / "artifact-cache" / "models" / "run-9"
    assert (local / "weights.safetensors").read_bytes() == b"\x00\x01weights"
    assert (local / "tokenizer" / "vocab.json").read_text() == '{"a": 1}'
    storage.artifact_delete(name)
    assert not remote.exists("models/run-9/weights.safetensors")
    remote.save("datasets/x.parquet", ContentFile(b"x"))
    assert storage.storage_source("datasets/x.parquet") == "datasets/x.parquet"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_thread_keeps_a_long_silent_phase_alive():
    """Tokenizer training and evaluation report no progress; the heartbeat thread beats for them."""
    import time

    from training.services.execution import training_heartbeat

    old = timezone.now() - timedelta(minutes=5)
    training_run = TrainingRunFactory(running=True, heartbeat_at=old)
    finished = TrainingRunFactory(succeeded=True, heartbeat_at=old)
    beats = [training_heartbeat(run.pk, interval=0.05) for run in (training_run, finished)]
    for heartbeat in beats:
        heartbeat.start()
    time.sleep(0.5)
    for heartbeat in beats:
        heartbeat.stop()

    assert not any(heartbeat.is_alive() for heartbeat in beats)
    training_run.refresh_from_db()
    finished.refresh_from_db()
    assert training_run.heartbeat_at > old
    assert finished.heartbeat_at == old  # only running rows are touched
