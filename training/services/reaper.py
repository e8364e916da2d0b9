"""Failing runs whose worker disappeared without a word (OOM kill, node lost, hard time limit)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from training.models import TrainingRun
from training.services.execution import stale_after as default_stale_after
from training.storage import staging_cleanup, staging_directories
from training.tracking import mlflow_run_terminate

logger = logging.getLogger(__name__)


def training_runs_reap_stale(*, stale_after: timedelta | None = None) -> list[int]:
    """Mark "running" runs without a heartbeat for `stale_after` failed; return their ids.

    `stale_after` defaults to CREATIVEOPS["STALE_RUN_MINUTES"]. A live run beats at least every
    30 s (`training.services.execution._Heartbeat`), so only a dead worker's run qualifies. Each row
    is updated only if its heartbeat is still the one we read, so a run that beats between our read
    and our write is left alone.
    """
    stale_after = stale_after or default_stale_after()
    now = timezone.now()
    cutoff = now - stale_after
    stale = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True, created_at__lt=cutoff)
    )
    reaped = []
    for training_run in stale:
        last_sign = training_run.heartbeat_at or training_run.started_at or training_run.created_at
        message = (
            f"Worker {training_run.worker or '(unknown)'} stopped sending heartbeats at "
            f"{last_sign:%Y-%m-%d %H:%M:%S %Z} (step {training_run.step} of {training_run.total_steps}); "
            f"marked failed by the reaper after {stale_after.total_seconds() / 60:g} minutes without one."
        )
        updated = TrainingRun.objects.filter(
            pk=training_run.pk, status=TrainingRun.Status.RUNNING, heartbeat_at=training_run.heartbeat_at
        ).update(status=TrainingRun.Status.FAILED, finished_at=now, eta_seconds=None, error=message)
        if not updated:
            continue
        reaped.append(training_run.pk)
        logger.warning("Training run #%s: %s", training_run.pk, message)
        if training_run.mlflow_run_id:
            mlflow_run_terminate(training_run.mlflow_run_id, "FAILED")
        _remove_staging_folders(training_run.pk)
    return reaped


def _remove_staging_folders(training_run_id: int) -> None:
    for folder in staging_directories(training_run_id):
        staging_cleanup(folder)
