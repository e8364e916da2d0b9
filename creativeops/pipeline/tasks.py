"""Thin Celery tasks: each takes a pipeline run id and calls one service. The policy is in the decorator.

* `acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its step finished, so a
  worker that dies mid-step does not silently drop the step (the step is idempotent; the reaper
  fails the run if nothing picks it up again within the lease).
* `autoretry_for` only transient infrastructure errors (database or broker connection), with
  exponential backoff; a step that fails for a real reason marks the run failed instead.
* Soft and hard time limits: training gets the long ones, the other steps minutes.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from creativeops.queues import Queue

TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, ConnectionError)
STEP_POLICY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
}


def _run_step(pipeline_run_id: int, step: str) -> int:
    """A failed step marks the run failed; the later steps of the chain then find it so and do nothing."""
    from creativeops.pipeline.services import pipeline_step_run

    pipeline_step_run(pipeline_run_id=pipeline_run_id, step=step)
    return pipeline_run_id


@shared_task(queue=Queue.DEFAULT, soft_time_limit=1800, time_limit=1900, **STEP_POLICY)
def pipeline_generate(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "generate")


@shared_task(queue=Queue.DEFAULT, soft_time_limit=600, time_limit=660, **STEP_POLICY)
def pipeline_snapshot(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "snapshot")


@shared_task(
    queue=Queue.TRAINING,
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
    **STEP_POLICY,
)
def pipeline_train(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "train")


@shared_task(queue=Queue.TRAINING, soft_time_limit=1800, time_limit=1900, **STEP_POLICY)
def pipeline_evaluate(pipeline_run_id: int) -> int:
    # On the training queue: scoring two models is CPU-heavy, like training.
    return _run_step(pipeline_run_id, "evaluate")


@shared_task(queue=Queue.DEFAULT, soft_time_limit=600, time_limit=660, **STEP_POLICY)
def pipeline_register(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "register")


@shared_task(queue=Queue.DEFAULT, acks_late=True, soft_time_limit=60, time_limit=90)
def pipeline_nightly(**options) -> int:
    """What beat runs at 00:00 UTC; the options are the schedule entry's kwargs."""
    from creativeops.pipeline.models import PipelineRun
    from creativeops.pipeline.services import pipeline_start

    return pipeline_start(trigger=PipelineRun.Trigger.SCHEDULE, options=options).pk


@shared_task(queue=Queue.DEFAULT, soft_time_limit=120, time_limit=150)
def pipeline_reap_stale() -> list[int]:
    from creativeops.pipeline.services import pipeline_runs_reap_stale

    return pipeline_runs_reap_stale()


@shared_task(queue=Queue.DEFAULT, acks_late=True, soft_time_limit=1800, time_limit=1900)
def retention_prune() -> dict:
    from creativeops.pipeline.retention import artifacts_prune

    return artifacts_prune()
