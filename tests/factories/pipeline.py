"""Factories for the pipeline tests: pipeline runs in every state, and the options of a fast run."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone

from creativeops.pipeline.models import PipelineRun

# `tiny` on ~100 products, trimmed so the whole chain (training, gate) takes seconds on two cores: one
# short epoch, short generations (the gate generates for every product it scores).
FAST_HYPERPARAMETERS = {
    "epochs": 1,
    "max_steps": 8,
    "batch_size": 32,
    "max_target_tokens": 32,
    "eval_max_items": 4,
    "validation_max_items": 8,
}
FAST_OPTIONS = {"preset": "tiny", "new_products": 100, "seed": 11, "hyperparameters": FAST_HYPERPARAMETERS}


def _pending_steps() -> dict:
    return {step: {"status": "pending"} for step in PipelineRun.STEPS}


class PipelineRunFactory(factory.django.DjangoModelFactory):
    """A row only (no chain is queued): for the lock, the reaper, the admin and the API."""

    class Meta:
        model = PipelineRun

    model_name = factory.LazyFunction(lambda: settings.CREATIVEOPS["DEFAULT_MODEL_NAME"])
    status = PipelineRun.Status.QUEUED
    trigger = PipelineRun.Trigger.MANUAL
    options = factory.LazyFunction(lambda: dict(FAST_OPTIONS))
    steps = factory.LazyFunction(_pending_steps)
    lease_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=10))

    class Params:
        succeeded = factory.Trait(
            status=PipelineRun.Status.SUCCEEDED,
            started_at=factory.LazyFunction(timezone.now),
            finished_at=factory.LazyFunction(timezone.now),
            steps=factory.LazyFunction(lambda: {step: {"status": "succeeded"} for step in PipelineRun.STEPS}),
        )
        running = factory.Trait(
            status=PipelineRun.Status.RUNNING,
            current_step="train",
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=2)),
            steps=factory.LazyFunction(
                lambda: {
                    **_pending_steps(),
                    "generate": {"status": "succeeded"},
                    "snapshot": {"status": "succeeded"},
                    "train": {"status": "running"},
                }
            ),
        )
        expired = factory.Trait(
            lease_expires_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1))
        )
