"""Retention: delete old dataset files and model artifacts nobody can need again.

Never pruned: the production version and the previous production version of each model, their
dataset versions, candidates awaiting a decision, golden sets, the newest dataset version, datasets
an active training or pipeline run reads, and anything younger than RETENTION_DAYS. The rows stay
(lineage and audit need them); only the files go, and `pruned_at` says when. The side-by-side samples
of an experiment that ended more than RETENTION_DAYS ago are deleted (its tallies and audit events stay).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from creativeops.pipeline.models import PipelineRun
from inference.services.experiment_samples import experiment_samples_prune
from products.models import DatasetVersion
from registry.models import ModelVersion, RegistryEvent
from training.models import TrainingRun
from training.storage import artifact_delete

logger = logging.getLogger(__name__)

PRODUCTION_ACTIONS = (
    RegistryEvent.Action.PROMOTE,
    RegistryEvent.Action.AUTO_PROMOTE,
    RegistryEvent.Action.OVERRIDE_PROMOTE,
    RegistryEvent.Action.ROLLBACK,
)


def protected_model_version_ids() -> set[int]:
    """Per model name: the production version and the one that was production before it."""
    protected: set[int] = set(ModelVersion.objects.production().values_list("pk", flat=True))
    protected |= set(ModelVersion.objects.candidates().values_list("pk", flat=True))
    for name in ModelVersion.objects.values_list("name", flat=True).distinct():
        seen: list[int] = []
        events = RegistryEvent.objects.filter(model_name=name, action__in=PRODUCTION_ACTIONS).order_by(
            "-created_at", "-id"
        )
        for to_version_id in events.values_list("to_version_id", flat=True):
            if to_version_id and to_version_id not in seen:
                seen.append(to_version_id)
            if len(seen) == 2:
                break
        protected.update(seen)
    return protected


def artifacts_prune(*, now=None, retention_days: int | None = None) -> dict:
    now = now or timezone.now()
    days = settings.CREATIVEOPS["RETENTION_DAYS"] if retention_days is None else retention_days
    cutoff = now - timedelta(days=days)
    protected_versions = protected_model_version_ids()
    pruned_models = []
    old_versions = ModelVersion.objects.filter(
        status__in=[ModelVersion.Status.REJECTED, ModelVersion.Status.ARCHIVED],
        created_at__lt=cutoff,
        pruned_at__isnull=True,
    ).exclude(pk__in=protected_versions)
    for version in old_versions:
        if version.artifact_uri:
            artifact_delete(version.artifact_uri)
        ModelVersion.objects.filter(pk=version.pk).update(pruned_at=now)
        pruned_models.append(version.pk)

    needed_datasets = set(
        ModelVersion.objects.filter(pk__in=protected_versions).values_list(
            "training_run__dataset_version_id", flat=True
        )
    )
    # A queued or running training reads its dataset file; never delete it from under it.
    needed_datasets |= set(TrainingRun.objects.active().values_list("dataset_version_id", flat=True))
    needed_datasets |= set(
        PipelineRun.objects.filter(status__in=[PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING])
        .exclude(dataset_version=None)
        .values_list("dataset_version_id", flat=True)
    )
    pruned_datasets = []
    old_datasets = DatasetVersion.objects.filter(
        kind=DatasetVersion.Kind.TRAINING, created_at__lt=cutoff, pruned_at__isnull=True
    ).exclude(pk__in=needed_datasets)
    latest = DatasetVersion.objects.filter(kind=DatasetVersion.Kind.TRAINING).order_by("-number").first()
    for dataset_version in old_datasets:
        if latest and dataset_version.pk == latest.pk:
            continue  # the next training starts from the newest snapshot's statistics
        if default_storage.exists(dataset_version.file):
            default_storage.delete(dataset_version.file)
        DatasetVersion.objects.filter(pk=dataset_version.pk).update(pruned_at=now)
        pruned_datasets.append(dataset_version.pk)
    samples = experiment_samples_prune(before=cutoff)
    logger.info(
        "Retention pruned model versions %s, dataset versions %s and %d samples of ended experiments",
        pruned_models,
        pruned_datasets,
        samples,
    )
    return {
        "model_versions": pruned_models,
        "dataset_versions": pruned_datasets,
        "experiment_samples": samples,
    }
