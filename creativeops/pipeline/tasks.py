"""Thin Celery tasks: each takes a pipeline run id and calls one service. The policy is in the decorator.

* `acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its step finished, so a
  worker that dies mid-step does not silently drop it. Redelivery comes after the broker's
  visibility timeout (settings: longer than the longest training); long before that the reaper has
  failed the run (its lease ran out) and a redelivered step finds the run ended and does nothing.
* `autoretry_for` only transient infrastructure errors (`creativeops.core.retries`), with
  exponential backoff and jitter; a step that fails for a real reason marks the run failed instead.
  A step still failing after its retries marks the run failed too (`PipelineStepTask.on_failure`).
* Soft and hard time limits: training gets the long ones (TRAINING_SOFT_TIME_LIMIT), the others
  minutes. The soft limit raises inside the step, which records it as the run's failure.
* Queues: training and the gate (which scores two models) are CPU-bound and go to the `training`
  queue (concurrency 1, prefetch 1); the short steps to `default`.
* A step that did not succeed raises `Ignore`: the chain stops there instead of sending the later
  steps (which would find the run ended and do nothing).
"""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import Ignore
from django.conf import settings

from creativeops.core.retries import TRANSIENT_ERRORS

STEP_POLICY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
    "ignore_result": True,
}


class PipelineStepTask(Task):
    """A pipeline step; `pipeline_step` names it. A final failure (retries spent) ends the run."""

    pipeline_step: str = ""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from creativeops.pipeline.services import pipeline_run_fail

        pipeline_run_fail(
            pipeline_run_id=args[0] if args else kwargs["pipeline_run_id"],
            step=self.pipeline_step,
            message=f"{type(exc).__name__}: {exc} (still failing after {self.max_retries} retries)",
        )


def _run_step(pipeline_run_id: int, step: str) -> int:
    from creativeops.pipeline.services import pipeline_step_run, pipeline_step_succeeded

    run = pipeline_step_run(pipeline_run_id=pipeline_run_id, step=step)
    if not pipeline_step_succeeded(run, step):
        raise Ignore()
    return pipeline_run_id


@shared_task(
    base=PipelineStepTask,
    pipeline_step="generate",
    soft_time_limit=1800,
    time_limit=1900,
    **STEP_POLICY,
)
def pipeline_generate(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "generate")


@shared_task(
    base=PipelineStepTask,
    pipeline_step="snapshot",
    soft_time_limit=600,
    time_limit=660,
    **STEP_POLICY,
)
def pipeline_snapshot(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "snapshot")


@shared_task(
    base=PipelineStepTask,
    pipeline_step="train",
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
    **STEP_POLICY,
)
def pipeline_train(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "train")


@shared_task(
    base=PipelineStepTask,
    pipeline_step="verify_artifact",
    soft_time_limit=600,
    time_limit=660,
    **STEP_POLICY,
)
def pipeline_verify_artifact(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "verify_artifact")


@shared_task(
    base=PipelineStepTask,
    pipeline_step="score_and_register",
    # Routed to the training queue (TASK_ROUTES): the gate scores two models, CPU-bound like training.
    soft_time_limit=1800,
    time_limit=1900,
    **STEP_POLICY,
)
def pipeline_score_and_register(pipeline_run_id: int) -> int:
    return _run_step(pipeline_run_id, "score_and_register")


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, expires=3600)
def pipeline_nightly(**options) -> int:
    """What beat runs at 00:00 UTC; the options are the schedule entry's kwargs."""
    from creativeops.pipeline.services import pipeline_start_scheduled

    return pipeline_start_scheduled(options=options).pk


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
    # Beat sends one a minute: a check still waiting after that is replaced by the next one.
    expires=60,
)
def pipeline_reap_stale() -> list[int]:
    from creativeops.pipeline.services import pipeline_runs_reap_stale

    return pipeline_runs_reap_stale()


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def retention_prune() -> dict:
    from creativeops.pipeline.retention import artifacts_prune

    return artifacts_prune()
