"""Ending runs: a step's failure, and the reaper that fails runs whose worker vanished (SIGKILL, OOM)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from creativeops.pipeline.models import PipelineRun

logger = logging.getLogger(__name__)

_ACTIVE = (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING)


def lease_duration() -> timedelta:
    """How long a run holds the lock without a sign of life: the same window as a training run's."""
    return timedelta(minutes=settings.CREATIVEOPS["STALE_RUN_MINUTES"])


def pipeline_run_fail(
    *,
    pipeline_run_id: int,
    message: str,
    step: str | None = None,
    lease_expired_before: datetime | None = None,
) -> bool:
    """Mark an active run failed with `message` on `step` (default: its current or first pending step).

    This releases the lock (a failed run is outside the partial unique index). Returns False and
    changes nothing when the run already ended, or, with `lease_expired_before`, when the run renewed
    its lease after that moment (it is alive after all).
    """
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().filter(pk=pipeline_run_id).first()
        if run is None or run.status not in _ACTIVE:
            return False
        if (
            lease_expired_before is not None
            and run.lease_expires_at
            and run.lease_expires_at >= lease_expired_before
        ):
            return False
        step = step or run.current_step or _first_unfinished_step(run)
        now = timezone.now()
        step_state = {
            **run.steps.get(step, {}),
            "status": "failed",
            "error": message,
            "finished_at": now.isoformat(),
        }
        run.steps = {**run.steps, step: step_state}
        run.status = PipelineRun.Status.FAILED
        run.current_step = step
        run.error = f"{step}: {message}"
        run.finished_at = now
        run.save(update_fields=["steps", "status", "current_step", "error", "finished_at"])
    logger.warning("Pipeline run #%s failed in step %s: %s", pipeline_run_id, step, message)
    return True


def _first_unfinished_step(run: PipelineRun) -> str:
    for step in PipelineRun.STEPS:
        if run.steps.get(step, {}).get("status") != "succeeded":
            return step
    return PipelineRun.STEPS[-1]


def pipeline_runs_reap_stale(*, model_name: str | None = None) -> list[int]:
    """Fail active runs whose lease ran out: no step renewed it, so their worker is gone. Returns ids.

    Training runs are reaped first (the training service's own rule, same window). A run whose
    training is still `running` after that has a fresh training heartbeat: it is alive, and its lease
    is extended instead.
    """
    from training.models import TrainingRun
    from training.services import training_runs_reap_stale

    training_runs_reap_stale()
    now = timezone.now()
    stale = PipelineRun.objects.filter(status__in=_ACTIVE, lease_expires_at__lt=now)
    if model_name:
        stale = stale.filter(model_name=model_name)
    reaped = []
    for run in stale.select_related("training_run"):
        training_run = run.training_run
        if training_run is not None and training_run.status == TrainingRun.Status.RUNNING:
            PipelineRun.objects.filter(pk=run.pk, status__in=_ACTIVE).update(
                lease_expires_at=now + lease_duration()
            )
            continue
        if pipeline_run_fail(
            pipeline_run_id=run.pk, message=_lost_worker_message(run), lease_expired_before=now
        ):
            reaped.append(run.pk)
    return reaped


def _lost_worker_message(run: PipelineRun) -> str:
    last_sign = run.lease_expires_at - lease_duration()
    message = (
        f"No sign of life from its worker since {last_sign:%Y-%m-%d %H:%M:%S} UTC (lease of "
        f"{lease_duration().total_seconds() / 60:g} min expired): the worker was lost; "
        "marked failed by the reaper. Start a new run."
    )
    training_run = run.training_run
    if training_run is not None and training_run.error:
        message += f" Training run #{training_run.pk}: {training_run.error.split(chr(10))[0]}"
    return message
