"""The Celery tasks (eager, as in unit tests) and the management commands that start trainings."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from creativeops.queues import Queue, queue_for
from tests.factories.products import dataset_version_from_catalog
from tests.factories.training import FAST_HYPERPARAMETERS, TrainingRunFactory
from training import tasks
from training.models import TrainingRun
from training.services import training_run_enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset_version():
    return dataset_version_from_catalog(products=100)


def test_enqueue_sends_the_task_only_after_commit(dataset_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        training_run = training_run_enqueue(
            dataset_version=dataset_version,
            preset="tiny",
            hyperparameters=FAST_HYPERPARAMETERS,
            trigger=TrainingRun.Trigger.MANUAL,
        )
    assert len(callbacks) == 1
    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.QUEUED  # nothing ran before the commit
    assert training_run.started_at is None


def test_enqueued_run_trains_through_celery_after_commit(dataset_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        training_run = training_run_enqueue(
            dataset_version=dataset_version,
            preset="tiny",
            hyperparameters={**FAST_HYPERPARAMETERS, "eval_max_items": 0},
            trigger=TrainingRun.Trigger.API,
        )
    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.SUCCEEDED, training_run.error
    assert training_run.artifact_uri == f"models/run-{training_run.pk}"
    assert len(training_run.epoch_history) == 2


def test_delay_runs_the_service(dataset_version):
    training_run = TrainingRunFactory(
        dataset_version=dataset_version, hyperparameters={**FAST_HYPERPARAMETERS, "eval_max_items": 0}
    )
    training_run.hyperparameters = {
        **TrainingRun.objects.get(pk=training_run.pk).hyperparameters,
        **FAST_HYPERPARAMETERS,
        "eval_max_items": 0,
    }
    training_run.save(update_fields=["hyperparameters"])

    tasks.train_model_task.delay(training_run.pk)

    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.SUCCEEDED, training_run.error


def test_a_broker_that_refuses_the_message_fails_the_run_with_the_reason(
    dataset_version, django_capture_on_commit_callbacks, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.train_model_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        training_run = training_run_enqueue(
            dataset_version=dataset_version, preset="tiny", trigger=TrainingRun.Trigger.MANUAL
        )
    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.FAILED
    assert training_run.error == (
        "Could not send the run to the training queue (OperationalError: Error 111 connecting to "
        "127.0.0.1:6379. Connection refused.). Check that the Celery broker is reachable, "
        "then start a new run."
    )


def test_training_task_declares_its_policy():
    task = tasks.train_model_task
    assert task.name == "training.train_model"
    assert queue_for(task.app, task.name) == Queue.TRAINING
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.soft_time_limit == settings.TRAINING_SOFT_TIME_LIMIT
    assert task.time_limit == settings.TRAINING_HARD_TIME_LIMIT > task.soft_time_limit
    assert task.max_retries == 3
    assert OperationalError in task.autoretry_for
    assert BrokerOperationalError in task.autoretry_for
    assert task.retry_backoff and task.retry_jitter


def test_training_task_retries_database_outages(monkeypatch):
    calls = []

    def flaky(*, training_run_id):
        calls.append(training_run_id)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "training_run_execute", flaky)

    tasks.train_model_task.apply(args=[41])

    assert calls == [41, 41, 41]


def test_reaper_task_marks_stale_runs_failed():
    stale = TrainingRunFactory(running=True, heartbeat_at=timezone.now() - timedelta(hours=1))
    live = TrainingRunFactory(running=True)

    tasks.reap_stale_training_runs.delay()

    stale.refresh_from_db()
    live.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED
    assert "marked failed by the reaper" in stale.error
    assert live.status == TrainingRun.Status.RUNNING
    task = tasks.reap_stale_training_runs
    assert queue_for(task.app, task.name) == Queue.DEFAULT


# --------------------------------------------------------------------------------------------
# manage.py train / benchmark_training
# --------------------------------------------------------------------------------------------


def test_train_command_trains_synchronously_and_prints_the_metrics(dataset_version):
    out, err = StringIO(), StringIO()

    call_command(
        "train",
        "--dataset-version", str(dataset_version.number),
        "--preset", "tiny",
        "--epochs", "2",
        "--set", "batch_size=32",
        "--set", "eval_max_items=4",
        "--set", "validation_max_items=8",
        "--set", "num_threads=1",
        stdout=out,
        stderr=err,
    )  # fmt: skip

    training_run = TrainingRun.objects.get()
    assert training_run.status == TrainingRun.Status.SUCCEEDED
    assert training_run.hyperparameters["epochs"] == 2
    assert training_run.hyperparameters["batch_size"] == 32
    text = out.getvalue()
    assert text.startswith(
        f"Training run #{training_run.pk}: preset tiny on dataset v{dataset_version.number} "
        "(100 products), in this process."
    )
    assert re.search(r"^metric \(test split\) +model +copy-the-title$", text, re.MULTILINE)
    assert re.search(rf"^rouge_l +{training_run.metrics['rouge_l']:.4f} +", text, re.MULTILINE)
    assert f"Training run #{training_run.pk} succeeded in " in text
    assert f"artifact models/run-{training_run.pk}" in text
    assert "epoch 1: train loss" in err.getvalue()  # the progress bar and epoch lines go to stderr
    # One ETA per redraw of the bar, the service's (the admin's figure), never tqdm's own estimate.
    redraws = [
        line for line in re.split(r"[\r\n]", err.getvalue()) if line.startswith(f"run #{training_run.pk}:")
    ]
    assert any(re.search(r", epoch \d+, ETA \d+ s\]$", line.strip()) for line in redraws), redraws
    assert all(line.count("ETA") <= 1 and "<" not in line and "/s" not in line for line in redraws), redraws


def test_train_command_explains_bad_input():
    with pytest.raises(CommandError, match=r"^There is no training dataset version yet"):
        call_command("train", stdout=StringIO())
    version = dataset_version_from_catalog(products=20)
    with pytest.raises(CommandError, match=r"^Dataset version v99 does not exist \(recent: v1\)\.$"):
        call_command("train", "--dataset-version", "99", stdout=StringIO())
    with pytest.raises(CommandError, match=r"^Unknown hyperparameter 'epoch'; allowed: batch_size"):
        call_command("train", "--dataset-version", str(version.number), "--set", "epoch=3", stdout=StringIO())
    with pytest.raises(CommandError, match=r"^--set takes NAME=VALUE"):
        call_command("train", "--set", "epochs", stdout=StringIO())
    assert not TrainingRun.objects.exists()


def test_train_command_reports_a_failed_run(dataset_version):
    with default_storage_file(dataset_version) as handle:
        handle.write(b"changed")
    with pytest.raises(CommandError) as failure:
        call_command("train", "--dataset-version", str(dataset_version.number), "--preset", "tiny",
                     stdout=StringIO(), stderr=StringIO())  # fmt: skip
    training_run = TrainingRun.objects.get()
    assert str(failure.value).startswith(
        f"Training run #{training_run.pk} failed: Dataset v{dataset_version.number} file "
    )
    assert str(failure.value).endswith("refusing to read a changed file.")


def default_storage_file(dataset_version):
    from django.core.files.storage import default_storage

    return default_storage.open(dataset_version.file, "wb")


def test_benchmark_command_prints_the_three_tables():
    out = StringIO()

    call_command(
        "benchmark_training",
        "--products",
        "12",
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--max-steps",
        "2",
        stdout=out,
        stderr=StringIO(),
    )

    text = out.getvalue()
    assert text.startswith("Catalog: 12 generated products (seed 7), 144 rows; preset tiny;")
    assert "(a) Training throughput" in text
    assert "transformers.Trainer" in text
    assert "ours / Trainer = " in text
    assert "(b) End to end, preset tiny on 12 products" in text
    assert "(c) Quality on the test split" in text
    assert "rouge_l" in text and "copy-the-title baseline" in text
    assert "(e) Per channel on the test split" in text and "Asset sets" in text
    for channel in ("generic", "google_search", "meta_feed"):  # by construction, even after 2 steps
        assert re.search(rf"{channel}: limit compliance\s+1\.0000", text), channel
    assert not TrainingRun.objects.exists()
