"""Factories for training runs: rows in every state (for the admin, the reaper, the lock, the registry).

A run that trains for real reads a real dataset version
(`tests.factories.products.dataset_version_from_catalog`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from tests.factories.products import DatasetVersionFactory
from training.ml.config import PRESETS
from training.models import TrainingRun

# Hyperparameters that keep a tiny training to a couple of seconds on two busy cores while still
# running two epochs (so there is a loss curve), evaluation and artifact publication.
FAST_HYPERPARAMETERS = {
    "epochs": 2,
    "batch_size": 32,
    "eval_max_items": 4,
    "validation_max_items": 8,
    "num_threads": 1,
}


def _preset_hyperparameters(preset: str = "tiny") -> dict:
    values = PRESETS[preset].to_dict()
    values.pop("preset")
    return values


EPOCH_HISTORY = [
    {
        "epoch": 1,
        "train_loss": 3.2,
        "val_loss": 3.4,
        "val_perplexity": 29.96,
        "learning_rate": 0.003,
        "steps": 10,
    },
    {
        "epoch": 2,
        "train_loss": 2.1,
        "val_loss": 2.6,
        "val_perplexity": 13.46,
        "learning_rate": 0.001,
        "steps": 20,
    },
    {
        "epoch": 3,
        "train_loss": 1.7,
        "val_loss": 2.4,
        "val_perplexity": 11.02,
        "learning_rate": 0.0,
        "steps": 30,
    },
]
FINAL_METRICS = {
    "rouge_l": 0.4321,
    "fact_fidelity": 0.97,
    "distinct_2": 0.41,
    "baseline_rouge_l": 0.3012,
    "baseline_fact_fidelity": 1.0,
    "baseline_distinct_2": 0.29,
    "val_loss": 2.4,
    "eval_loss": 2.5,
    "tokens_per_second": 15234.5,
    "parameter_count": 131904,
}


class TrainingRunFactory(factory.django.DjangoModelFactory):
    """Queued by default; `running`, `succeeded` (with metrics and an artifact uri) and `failed`."""

    class Meta:
        model = TrainingRun

    dataset_version = factory.SubFactory(DatasetVersionFactory)
    preset = "tiny"
    hyperparameters = factory.LazyFunction(_preset_hyperparameters)
    status = TrainingRun.Status.QUEUED
    trigger = TrainingRun.Trigger.MANUAL
    celery_task_id = factory.LazyFunction(lambda: str(uuid.uuid4()))

    class Params:
        running = factory.Trait(
            status=TrainingRun.Status.RUNNING,
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=3)),
            heartbeat_at=factory.LazyFunction(timezone.now),
            worker="celery@training-1",
            step=15,
            total_steps=60,
            progress_percent=25.0,
            eta_seconds=540.0,
            epoch_history=factory.LazyFunction(lambda: [dict(EPOCH_HISTORY[0])]),
        )
        succeeded = factory.Trait(
            status=TrainingRun.Status.SUCCEEDED,
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=12, seconds=5)),
            finished_at=factory.LazyFunction(timezone.now),
            heartbeat_at=factory.LazyFunction(timezone.now),
            worker="celery@training-1",
            step=30,
            total_steps=30,
            progress_percent=100.0,
            eta_seconds=0.0,
            epoch_history=factory.LazyFunction(lambda: [dict(epoch) for epoch in EPOCH_HISTORY]),
            metrics=factory.LazyFunction(lambda: dict(FINAL_METRICS)),
            artifact_uri=factory.Sequence(lambda n: f"models/run-factory-{n}"),
            artifact_sha256="ab" * 32,
            parameter_count=131904,
            mlflow_run_id="0123456789abcdef0123456789abcdef",
        )
        failed = factory.Trait(
            status=TrainingRun.Status.FAILED,
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1)),
            finished_at=factory.LazyFunction(timezone.now),
            error="RuntimeError: out of memory <while allocating>\n\nTraceback (last 4000 characters):\n...",
        )
