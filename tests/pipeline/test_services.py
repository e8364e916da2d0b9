"""The chain, step by step and as a whole, in process (eager Celery): lineage, idempotency, failures,
options, the lock and the reaper."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import (
    pipeline_options_clean,
    pipeline_runs_reap_stale,
    pipeline_start,
    pipeline_start_scheduled,
    pipeline_step_run,
)
from products.models import DatasetVersion, Product
from registry.models import ModelVersion
from tests.factories.pipeline import FAST_HYPERPARAMETERS, FAST_OPTIONS, PipelineRunFactory
from tests.factories.training import TrainingRunFactory
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def _step_statuses(run: PipelineRun) -> dict[str, str]:
    return {step: run.steps[step]["status"] for step in PipelineRun.STEPS}


def _start_without_chain(django_capture_on_commit_callbacks, **options) -> PipelineRun:
    """A started run whose chain is not queued: the test then delivers the steps itself."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options={**FAST_OPTIONS, **options})
    assert len(queued) == 1  # the chain, queued on commit
    return run


# --- the whole chain ---------------------------------------------------------------------------


def test_the_chain_ends_in_a_candidate_with_lineage(start_and_run, operator_user):
    run = start_and_run(trigger=PipelineRun.Trigger.MANUAL, actor=operator_user, options=FAST_OPTIONS)

    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert run.error == ""
    assert _step_statuses(run) == dict.fromkeys(PipelineRun.STEPS, "succeeded")
    assert run.current_step == ""
    assert run.started_at <= run.finished_at
    assert run.generated_products == 100 == Product.objects.count()
    # Lineage: dataset version → training run → model version, all recorded on the run.
    version = ModelVersion.objects.get()
    assert run.model_version == version
    assert version.status == ModelVersion.Status.CANDIDATE
    assert version.training_run == run.training_run
    assert run.training_run.dataset_version == run.dataset_version
    assert run.training_run.status == TrainingRun.Status.SUCCEEDED
    assert run.training_run.preset == "tiny"
    assert run.training_run.hyperparameters["epochs"] == FAST_HYPERPARAMETERS["epochs"]
    assert run.training_run.triggered_by == operator_user
    assert run.dataset_version.kind == DatasetVersion.Kind.TRAINING
    assert run.dataset_version.trigger == DatasetVersion.Trigger.PIPELINE
    assert run.dataset_version.note == f"Pipeline run #{run.pk}"
    assert run.dataset_version.product_count == 100
    # The gate's decision and reason, as the registry wrote them.
    assert run.gate_decision == "candidate"
    assert run.gate_reason == version.gate_reason
    assert "candidate" in run.gate_reason
    # What each step recorded.
    assert run.steps["generate"]["products"] == 100
    assert run.steps["snapshot"]["dataset_version"] == run.dataset_version.number
    assert run.steps["train"]["training_run"] == run.training_run_id
    assert run.steps["verify_artifact"]["artifact_sha256"] == version.artifact_sha256
    assert run.steps["score_and_register"] == {
        **run.steps["score_and_register"],
        "model_version": version.version,
        "status": "succeeded",
        "decision": "candidate",
        "version_status": "candidate",
        "compared_with": None,  # the first version: no production yet
        "golden_dataset_version": DatasetVersion.objects.get(kind=DatasetVersion.Kind.GOLDEN).number,
    }
    assert all(run.steps[step]["attempts"] == 1 for step in PipelineRun.STEPS)


def test_steps_delivered_twice_create_nothing_twice(django_capture_on_commit_callbacks):
    run = _start_without_chain(django_capture_on_commit_callbacks)

    for step in ("generate", "snapshot"):
        pipeline_step_run(pipeline_run_id=run.pk, step=step)
    # Delivered again after it succeeded: nothing happens.
    pipeline_step_run(pipeline_run_id=run.pk, step="snapshot")
    assert DatasetVersion.objects.count() == 1
    # Delivered again after the work was done but before the step was recorded (the worker died
    # between the two): the dataset version on the run is reused.
    PipelineRun.objects.filter(pk=run.pk).update(
        steps={**PipelineRun.objects.get(pk=run.pk).steps, "snapshot": {"status": "running"}}
    )
    run = pipeline_step_run(pipeline_run_id=run.pk, step="snapshot")
    assert run.steps["snapshot"]["status"] == "succeeded"
    assert DatasetVersion.objects.count() == 1

    for step in ("train", "verify_artifact", "score_and_register"):
        run = pipeline_step_run(pipeline_run_id=run.pk, step=step)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get()

    # The last step delivered again while the run was still active, its work already done.
    PipelineRun.objects.filter(pk=run.pk).update(
        status=PipelineRun.Status.RUNNING, steps={**run.steps, "score_and_register": {"status": "running"}}
    )
    run = pipeline_step_run(pipeline_run_id=run.pk, step="score_and_register")
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert ModelVersion.objects.get() == version == run.model_version
    assert TrainingRun.objects.count() == 1
    assert DatasetVersion.objects.filter(kind=DatasetVersion.Kind.TRAINING).count() == 1
    # And delivered again after the run ended: nothing at all.
    assert (
        pipeline_step_run(pipeline_run_id=run.pk, step="score_and_register").status
        == PipelineRun.Status.SUCCEEDED
    )
    assert ModelVersion.objects.count() == 1


def test_a_step_delivered_before_the_previous_one_succeeded_does_nothing(django_capture_on_commit_callbacks):
    run = _start_without_chain(django_capture_on_commit_callbacks)

    run = pipeline_step_run(pipeline_run_id=run.pk, step="snapshot")

    assert run.status == PipelineRun.Status.QUEUED
    assert run.steps["snapshot"] == {"status": "pending"}
    assert DatasetVersion.objects.count() == 0


def test_a_failing_step_fails_the_run_with_its_message_and_releases_the_lock(
    django_capture_on_commit_callbacks, start_and_run
):
    run = _start_without_chain(django_capture_on_commit_callbacks)
    pipeline_step_run(pipeline_run_id=run.pk, step="generate")
    run = pipeline_step_run(pipeline_run_id=run.pk, step="snapshot")
    # The dataset file changes between the snapshot and the training.
    with default_storage.open(run.dataset_version.file, "wb") as handle:
        handle.write(b"not the parquet file that was written")

    run = pipeline_step_run(pipeline_run_id=run.pk, step="train")

    assert run.status == PipelineRun.Status.FAILED
    assert run.steps["train"]["status"] == "failed"
    assert run.error.startswith(f"train: Training run #{run.training_run_id} failed: Dataset v")
    assert "refusing to read a changed file" in run.error
    assert run.steps["train"]["error"] == run.error.removeprefix("train: ")
    assert run.finished_at is not None
    # The later steps, still delivered by the chain, do nothing.
    assert pipeline_step_run(pipeline_run_id=run.pk, step="verify_artifact").steps["verify_artifact"] == {
        "status": "pending"
    }
    assert ModelVersion.objects.count() == 0
    # The lock is released: the next start is not skipped.
    with django_capture_on_commit_callbacks(execute=False):
        following = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)
    assert following.status == PipelineRun.Status.QUEUED
    assert following.skipped_because_of is None


def test_a_transient_error_is_left_to_the_task_to_retry(django_capture_on_commit_callbacks, monkeypatch):
    from creativeops.pipeline.services import steps

    run = _start_without_chain(django_capture_on_commit_callbacks)

    def database_gone(run):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(steps.STEP_HANDLERS, "generate", database_gone)
    with pytest.raises(OperationalError):
        pipeline_step_run(pipeline_run_id=run.pk, step="generate")
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING  # not failed: the task retries with backoff
    assert run.steps["generate"]["status"] == "running"


def test_a_step_still_failing_after_its_retries_fails_the_run(
    django_capture_on_commit_callbacks, monkeypatch
):
    from creativeops.pipeline import tasks
    from creativeops.pipeline.services import steps

    run = _start_without_chain(django_capture_on_commit_callbacks)
    calls = []

    def database_gone(run):
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(steps.STEP_HANDLERS, "generate", database_gone)
    monkeypatch.setattr(tasks.pipeline_generate, "retry_backoff", False)

    tasks.pipeline_generate.apply(args=[run.pk])

    run.refresh_from_db()
    assert len(calls) == 1 + tasks.pipeline_generate.max_retries
    assert run.status == PipelineRun.Status.FAILED
    assert run.error == (
        "generate: OperationalError: server closed the connection unexpectedly "
        "(still failing after 3 retries)"
    )


def test_a_broker_that_cannot_be_reached_fails_the_run_at_once(
    django_capture_on_commit_callbacks, monkeypatch
):
    from creativeops.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")  # nothing listens there
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration (CI sets it).
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(app.conf, "task_publish_retry", False)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)

    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.error.startswith("generate: Could not send the run to the Celery broker (")
    assert run.error.endswith("Check that CELERY_BROKER_URL is reachable, then start a new run.")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_a_broker_a_web_start_runs_the_chain_on_a_thread(on_postgres, caplog):
    # An empty catalog: the chain stops at its snapshot within a second.
    run = pipeline_start(trigger=PipelineRun.Trigger.API, options={"preset": "tiny"}, background=True)

    deadline = time.monotonic() + 60
    while run.status not in (PipelineRun.Status.FAILED, PipelineRun.Status.SUCCEEDED):
        assert time.monotonic() < deadline, f"still {run.status}"
        time.sleep(0.5)
        run.refresh_from_db()
    assert run.steps["generate"]["status"] == "succeeded"
    assert (
        run.error
        == "snapshot: The catalog is empty: generate or import products before cutting a dataset version."
    )
    threads = {
        record.threadName for record in caplog.records if "failed in step snapshot" in record.getMessage()
    }
    assert threads == {f"pipeline-run-{run.pk}"}


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"preset": "huge"}, "preset", "Unknown preset 'huge'; choose one of: tiny, small, base."),
        (
            {"new_products": -1},
            "new_products",
            "new_products must be a whole number from 0 to 100,000; got -1.",
        ),
        (
            {"new_products": 100_001},
            "new_products",
            "new_products must be a whole number from 0 to 100,000; got 100001.",
        ),
        (
            {"new_products": "500"},
            "new_products",
            "new_products must be a whole number from 0 to 100,000; got '500'.",
        ),
        (
            {"new_products": True},
            "new_products",
            "new_products must be a whole number from 0 to 100,000; got True.",
        ),
        ({"seed": -3}, "seed", "seed must be a whole number from 0 to 18446744073709551615; got -3."),
        (
            {"seed": 20240601},
            "seed",
            "Seed 20240601 is the golden evaluation set's seed (GOLDEN_SET_SEED); pick another.",
        ),
        (
            {"colour": "red"},
            "colour",
            "Unknown pipeline option 'colour'; allowed: preset, new_products, seed, hyperparameters.",
        ),
        (
            {"hyperparameters": {"epochs": 10_000}},
            "hyperparameters",
            "Hyperparameter 'epochs' must be between 1 and 500, got 10000.",
        ),
        (
            {"hyperparameters": {"speed": 3}},
            "hyperparameters",
            "Unknown hyperparameter 'speed'; allowed: ",
        ),
    ],
)
def test_options_are_checked_before_anything_starts(options, field, message):
    with pytest.raises(ApplicationError) as refused:
        pipeline_start(trigger=PipelineRun.Trigger.API, options=options)

    assert refused.value.field == field
    assert refused.value.message.startswith(message)
    assert PipelineRun.objects.count() == 0


def test_options_are_completed_with_the_defaults():
    assert pipeline_options_clean({"preset": "tiny"}) == {
        "preset": "tiny",
        "new_products": 0,
        "seed": None,
        "hyperparameters": {},
    }
    with pytest.raises(ApplicationError, match="Pipeline options must be an object"):
        pipeline_options_clean(["tiny"])


def test_an_unknown_trigger_is_refused():
    with pytest.raises(
        ApplicationError, match="Unknown trigger 'cron'; choose one of: schedule, manual, api, drift."
    ):
        pipeline_start(trigger="cron")


def test_new_products_without_a_seed_get_a_random_one_that_is_recorded(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options={"new_products": 10})

    assert isinstance(run.options["seed"], int)
    assert run.options["seed"] != 20240601


def test_a_scheduled_start_with_invalid_kwargs_is_a_failed_run_saying_what_to_fix():
    run = pipeline_start_scheduled(options={"preset": "huge", "new_products": 500})

    assert run.status == PipelineRun.Status.FAILED
    assert run.trigger == PipelineRun.Trigger.SCHEDULE
    assert run.error == (
        "The schedule entry's options are invalid: Unknown preset 'huge'; choose one of: tiny, small, base. "
        "Edit the entry's kwargs under Periodic tasks in the admin."
    )


# --- the lock -----------------------------------------------------------------------------------


def test_a_start_while_one_is_active_is_skipped_naming_it(django_capture_on_commit_callbacks, operator_user):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = pipeline_start(trigger=PipelineRun.Trigger.SCHEDULE, options=FAST_OPTIONS)
        second = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, actor=operator_user, options=FAST_OPTIONS)

    assert len(queued) == 1  # only the first run's chain
    assert first.status == PipelineRun.Status.QUEUED
    assert second.status == PipelineRun.Status.SKIPPED
    assert second.skipped_because_of == first
    assert second.triggered_by == operator_user
    assert second.finished_at is not None
    assert second.error == (
        f"Skipped: pipeline run #{first.pk} (started {first.created_at:%Y-%m-%d %H:%M:%S} UTC) is still "
        "queued; one pipeline runs at a time per model (creative-generator)."
    )


def test_the_lock_is_per_model(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)
        other = pipeline_start(
            trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS, model_name="other-model"
        )

    assert first.status == other.status == PipelineRun.Status.QUEUED


# --- the reaper ---------------------------------------------------------------------------------


def test_the_reaper_fails_a_run_whose_lease_expired_and_releases_the_lock(django_capture_on_commit_callbacks):
    dead = PipelineRunFactory(running=True, expired=True)
    dead_training = TrainingRunFactory(
        running=True, heartbeat_at=timezone.now() - timedelta(hours=1), worker="celery@gone"
    )
    PipelineRun.objects.filter(pk=dead.pk).update(training_run=dead_training)
    alive = PipelineRunFactory(running=True, model_name="other-model")

    assert pipeline_runs_reap_stale() == [dead.pk]

    dead.refresh_from_db()
    dead_training.refresh_from_db()
    assert dead.status == PipelineRun.Status.FAILED
    assert dead.steps["train"]["status"] == "failed"
    assert dead.error.startswith("train: No sign of life from its worker since ")
    assert "the worker was lost; marked failed by the reaper. Start a new run." in dead.error
    assert f"Training run #{dead_training.pk}: Worker celery@gone stopped sending heartbeats" in dead.error
    assert dead_training.status == TrainingRun.Status.FAILED
    alive.refresh_from_db()
    assert alive.status == PipelineRun.Status.RUNNING
    with django_capture_on_commit_callbacks(execute=False):
        following = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)
    assert following.status == PipelineRun.Status.QUEUED


def test_the_reaper_extends_the_lease_of_a_run_whose_training_is_alive():
    training_run = TrainingRunFactory(running=True)  # heartbeat: now
    run = PipelineRunFactory(running=True, expired=True, training_run=training_run)

    assert pipeline_runs_reap_stale() == []

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING
    assert run.lease_expires_at > timezone.now()


def test_a_start_reaps_a_dead_holder_first(django_capture_on_commit_callbacks):
    dead = PipelineRunFactory(status=PipelineRun.Status.QUEUED, expired=True)

    with django_capture_on_commit_callbacks(execute=False):
        run = pipeline_start(trigger=PipelineRun.Trigger.MANUAL, options=FAST_OPTIONS)

    dead.refresh_from_db()
    assert dead.status == PipelineRun.Status.FAILED
    assert dead.error.startswith("generate: No sign of life")
    assert run.status == PipelineRun.Status.QUEUED


def test_a_late_step_of_a_reaped_run_changes_nothing(django_capture_on_commit_callbacks):
    run = _start_without_chain(django_capture_on_commit_callbacks, new_products=5)
    PipelineRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    pipeline_runs_reap_stale()

    run = pipeline_step_run(pipeline_run_id=run.pk, step="generate")

    assert run.status == PipelineRun.Status.FAILED
    assert run.steps["generate"]["status"] == "failed"
    assert Product.objects.count() == 0
