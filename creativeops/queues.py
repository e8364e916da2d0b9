"""Named Celery queues and the routes that send tasks to them, in one place.

Celery 5.5+ deprecates the `queue=` task attribute (it stops working in Celery 6); routing lives
in the `task_routes` setting instead. A task not named here goes to `task_default_queue`
("default"); only the CPU-bound steps are routed to the training workers.
"""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"
    # Long, CPU-bound model training: its own workers, concurrency 1, prefetch 1.
    TRAINING = "training"


TASK_ROUTES: dict[str, dict[str, str]] = {
    # A training run, started from `manage.py train --async`, the admin or the API.
    "training.train_model": {"queue": Queue.TRAINING.value},
    # The pipeline's training step.
    "creativeops.pipeline.tasks.pipeline_train": {"queue": Queue.TRAINING.value},
    # The gate loads and scores two models: CPU-bound like training, so it never runs beside one.
    "creativeops.pipeline.tasks.pipeline_score_and_register": {"queue": Queue.TRAINING.value},
}


def queue_for(app, task_name: str) -> str:
    """The queue Celery's router picks for `task_name` (what a worker must consume to run it)."""
    return app.amqp.router.route({}, task_name)["queue"].name
