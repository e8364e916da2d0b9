"""Named Celery queues, in one place (PostHog's pattern): a task names its queue in its decorator."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"
    # Long, CPU-bound model training: its own workers, concurrency 1, prefetch 1.
    TRAINING = "training"
