"""The nightly chain: generate → snapshot → train → evaluate → register, one run at a time per model.

Concurrency design
------------------
* The lock is the database: a partial unique index allows one `queued`/`running` PipelineRun per
  model name. `pipeline_start` inserts the run in that state; a second start at the same moment hits
  the index and is recorded as `skipped`, naming the run that holds the lock. It is neither queued
  behind it nor run twice.
* The lock has a lease (`lease_expires_at`), renewed at every step and, during training, by the
  training run's heartbeat. A worker killed with SIGKILL renews nothing: the reaper
  (`pipeline_runs_reap_stale`, every minute) marks such a run failed, which releases the lock.
* Every step is idempotent: it records its output on the run (dataset version, training run, model
  version) and a step delivered twice finds the output there and does nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.pipeline.models import PipelineRun

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING)
DEFAULT_OPTIONS = {"preset": "small", "new_products": 0, "seed": None}
LEASE = timedelta(minutes=5)


def pipeline_options_clean(options: dict | None) -> dict:
    """Validate the options a schedule entry, the admin, the CLI or the API passes."""
    from training.ml import PRESETS

    merged = {**DEFAULT_OPTIONS, **(options or {})}
    unknown = sorted(set(merged) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ApplicationError(f"Unknown pipeline option(s): {', '.join(unknown)}.", field=unknown[0])
    if merged["preset"] not in PRESETS:
        raise ApplicationError(
            f"Unknown preset {merged['preset']!r}; choose one of {', '.join(sorted(PRESETS))}.",
            field="preset",
        )
    new_products = merged["new_products"]
    limit = settings.CREATIVEOPS["GENERATE_MAX_COUNT"] * 10
    if not isinstance(new_products, int) or isinstance(new_products, bool) or not 0 <= new_products <= limit:
        raise ApplicationError(f"new_products must be an integer from 0 to {limit}.", field="new_products")
    if merged["seed"] is not None and (not isinstance(merged["seed"], int) or merged["seed"] < 0):
        raise ApplicationError("seed must be a non-negative integer.", field="seed")
    return merged


def pipeline_start(
    *, trigger: str, actor=None, options: dict | None = None, model_name: str | None = None
) -> PipelineRun:
    """The one entry point (beat, admin, CLI, API). Returns the new run, `skipped` if one is active."""
    name = model_name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    cleaned = pipeline_options_clean(options)
    if cleaned["seed"] is None and cleaned["new_products"]:
        cleaned["seed"] = secrets.randbelow(2**31)
    steps = {step: {"status": "pending"} for step in PipelineRun.STEPS}
    with transaction.atomic():
        pipeline_runs_reap_stale(model_name=name)
        try:
            with transaction.atomic():
                run = PipelineRun.objects.create(
                    model_name=name,
                    status=PipelineRun.Status.QUEUED,
                    trigger=trigger,
                    triggered_by=actor,
                    options=cleaned,
                    steps=steps,
                    lease_expires_at=timezone.now() + LEASE,
                )
        except IntegrityError:
            return _record_skipped(name=name, trigger=trigger, actor=actor, options=cleaned, steps=steps)
        transaction.on_commit(lambda: _enqueue_chain(run.pk))
    return run


def _record_skipped(*, name, trigger, actor, options, steps) -> PipelineRun:
    holder = PipelineRun.objects.filter(model_name=name, status__in=ACTIVE_STATUSES).first()
    holder_text = (
        f"pipeline run #{holder.pk} (started {holder.created_at:%Y-%m-%d %H:%M:%S} UTC)"
        if holder
        else "another run"
    )
    return PipelineRun.objects.create(
        model_name=name,
        status=PipelineRun.Status.SKIPPED,
        trigger=trigger,
        triggered_by=actor,
        options=options,
        steps=steps,
        skipped_because_of=holder,
        error=f"Skipped: {holder_text} of {name} is still running; one pipeline runs at a time per model.",
        finished_at=timezone.now(),
    )


def _enqueue_chain(run_id: int) -> None:
    from celery import chain

    from creativeops.pipeline import tasks

    chain(
        tasks.pipeline_generate.si(run_id),
        tasks.pipeline_snapshot.si(run_id),
        tasks.pipeline_train.si(run_id),
        tasks.pipeline_evaluate.si(run_id),
        tasks.pipeline_register.si(run_id),
    ).apply_async()


# --- steps -------------------------------------------------------------------------------------


def pipeline_step_run(*, pipeline_run_id: int, step: str) -> PipelineRun:
    """Run one step of a run, idempotently; a failure marks the run failed and releases the lock."""
    run = PipelineRun.objects.get(pk=pipeline_run_id)
    if run.status not in ACTIVE_STATUSES:
        logger.info("Pipeline run #%s is %s; step %s does nothing.", run.pk, run.status, step)
        return run
    if run.steps.get(step, {}).get("status") == "succeeded":
        logger.info("Pipeline run #%s: step %s already done (delivered twice).", run.pk, step)
        return run
    _step_mark(run, step, status="running", started_at=timezone.now().isoformat())
    try:
        STEP_HANDLERS[step](run)
    except Exception as error:
        logger.exception("Pipeline run #%s failed in step %s", run.pk, step)
        message = error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        pipeline_run_fail(run=run, step=step, message=message)
        return run
    _step_mark(run, step, status="succeeded", finished_at=timezone.now().isoformat())
    if step == PipelineRun.STEPS[-1]:
        PipelineRun.objects.filter(pk=run.pk).update(
            status=PipelineRun.Status.SUCCEEDED, finished_at=timezone.now(), current_step=""
        )
    run.refresh_from_db()
    return run


def _step_mark(run: PipelineRun, step: str, **fields) -> None:
    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        locked.steps = {**locked.steps, step: {**locked.steps.get(step, {}), **fields}}
        locked.current_step = step
        locked.lease_expires_at = timezone.now() + LEASE
        if locked.status == PipelineRun.Status.QUEUED:
            locked.status = PipelineRun.Status.RUNNING
            locked.started_at = timezone.now()
        locked.save(update_fields=["steps", "current_step", "lease_expires_at", "status", "started_at"])
    run.refresh_from_db()


def pipeline_run_fail(*, run: PipelineRun, step: str, message: str) -> None:
    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if locked.status not in ACTIVE_STATUSES:
            return
        step_state = {**locked.steps.get(step, {}), "status": "failed", "error": message}
        step_state["finished_at"] = timezone.now().isoformat()
        locked.steps = {**locked.steps, step: step_state}
        locked.status = PipelineRun.Status.FAILED
        locked.error = f"{step}: {message}"
        locked.finished_at = timezone.now()
        locked.save(update_fields=["steps", "status", "error", "finished_at"])


def _generate(run: PipelineRun) -> None:
    from products.services import products_generate_and_store

    count = run.options.get("new_products") or 0
    if count:
        stored = products_generate_and_store(count=count, seed=run.options["seed"])
        PipelineRun.objects.filter(pk=run.pk).update(generated_products=stored)


def _snapshot(run: PipelineRun) -> None:
    from products.models import DatasetVersion
    from products.services import dataset_version_create

    if run.dataset_version_id:
        return
    version = dataset_version_create(
        trigger=DatasetVersion.Trigger.PIPELINE, actor=run.triggered_by, note=f"pipeline run #{run.pk}"
    )
    PipelineRun.objects.filter(pk=run.pk).update(dataset_version=version)


def _train(run: PipelineRun) -> None:
    from training.services import training_run_create, training_run_execute

    from training.models import TrainingRun

    run.refresh_from_db()
    training_run = run.training_run
    if training_run is None:
        trigger = (
            TrainingRun.Trigger.SCHEDULE
            if run.trigger == PipelineRun.Trigger.SCHEDULE
            else TrainingRun.Trigger.MANUAL
        )
        training_run = training_run_create(
            dataset_version=run.dataset_version,
            preset=run.options["preset"],
            trigger=trigger,
            actor=run.triggered_by,
        )
        PipelineRun.objects.filter(pk=run.pk).update(training_run=training_run)
    elif training_run.status == TrainingRun.Status.RUNNING:
        # Delivered again while a run is recorded as running: the worker that ran it is gone.
        raise ApplicationError(
            f"Training run #{training_run.pk} was interrupted (its worker stopped); start a new pipeline run."
        )
    training_run = training_run_execute(training_run_id=training_run.pk)
    if training_run.status != TrainingRun.Status.SUCCEEDED:
        raise ApplicationError(f"Training run #{training_run.pk} {training_run.status}: {training_run.error}")


def _evaluate(run: PipelineRun) -> None:
    """Register + gate are one registry service; this step makes sure the artifact is intact first."""
    from training.services import training_run_verify_artifact

    run.refresh_from_db()
    training_run_verify_artifact(training_run=run.training_run)


def _register(run: PipelineRun) -> None:
    from registry.services import model_version_register

    run.refresh_from_db()
    version = model_version_register(
        training_run=run.training_run, name=run.model_name, actor=run.triggered_by
    )
    PipelineRun.objects.filter(pk=run.pk).update(
        model_version=version, gate_decision=version.status, gate_reason=version.gate_reason
    )


STEP_HANDLERS: dict[str, Callable[[PipelineRun], None]] = {
    "generate": _generate,
    "snapshot": _snapshot,
    "train": _train,
    "evaluate": _evaluate,
    "register": _register,
}


# --- reaping and waiting --------------------------------------------------------------------


def pipeline_runs_reap_stale(*, model_name: str | None = None) -> list[int]:
    """Fail active runs whose lease ran out and whose training shows no life: their worker is gone."""
    from training.services import training_runs_reap_stale

    training_runs_reap_stale()
    now = timezone.now()
    stale = PipelineRun.objects.filter(status__in=ACTIVE_STATUSES, lease_expires_at__lt=now)
    if model_name:
        stale = stale.filter(model_name=model_name)
    reaped = []
    for run in stale.select_related("training_run"):
        training_run = run.training_run
        if training_run is not None and training_run.status == "running":
            # Training renews the lease through its heartbeat; the training reaper judges it.
            PipelineRun.objects.filter(pk=run.pk).update(lease_expires_at=now + LEASE)
            continue
        pipeline_run_fail(
            run=run,
            step=run.current_step or "generate",
            message=f"no sign of life since {run.lease_expires_at - LEASE:%Y-%m-%d %H:%M:%S} UTC "
            "(worker lost); marked failed by the reaper",
        )
        reaped.append(run.pk)
    return reaped


def pipeline_run_progress(run: PipelineRun) -> dict:
    """What the admin and the CLI show while a run goes: step, and training progress when training."""
    done = sum(1 for state in run.steps.values() if state.get("status") == "succeeded")
    progress = {"step": run.current_step, "steps_done": done, "steps_total": len(PipelineRun.STEPS)}
    if run.training_run_id:
        training_run = run.training_run
        progress.update(
            training_percent=training_run.progress_percent,
            training_eta_seconds=training_run.eta_seconds,
            training_status=training_run.status,
        )
    return progress
