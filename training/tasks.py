"""Celery tasks of the training app: thin wrappers whose whole policy is in the decorator."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from creativeops.core.retries import TRANSIENT_ERRORS
from training.services import training_run_execute, training_runs_reap_stale


@shared_task(
    name="training.train_model",
    # Routed to the training queue (creativeops.queues.TASK_ROUTES), consumed by training workers with
    # concurrency 1 and prefetch 1: a run never waits behind, or starves, the short default-queue tasks.
    # Ack after the task ends, not when it starts: a worker that dies mid-training leaves the message
    # in the broker for another worker (the service restarts the run only once its heartbeat is stale).
    acks_late=True,
    # ...and that includes a worker process killed by the OS (OOM) or by the hard time limit.
    reject_on_worker_lost=True,
    # The soft limit raises inside the training, which the service records as a clear failure and
    # cleans up after; the hard limit (a few minutes later) kills a run stuck where it cannot raise.
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
    # Only transient infrastructure errors (creativeops.core.retries) are retried, with
    # exponential backoff and jitter so a recovering database is not hit by every worker at once.
    # The service is idempotent (a finished run is returned untouched), so a retry is always safe.
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
    # Nothing reads the return value; the TrainingRun row is the result.
    ignore_result=True,
)
def train_model_task(training_run_id: int) -> None:
    training_run_execute(training_run_id=training_run_id)


@shared_task(
    name="training.reap_stale_training_runs",
    # Cheap and idempotent: running it twice marks nothing twice; a lost run is simply done next time.
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def reap_stale_training_runs() -> list[int]:
    return training_runs_reap_stale()
