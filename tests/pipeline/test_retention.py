"""Retention deletes old files nobody can need again, and never production, previous production or
their datasets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from creativeops.pipeline import tasks
from creativeops.pipeline.retention import artifacts_prune
from products.models import DatasetVersion
from registry.models import ModelVersion
from registry.services import model_version_promote
from tests.factories.products import DatasetVersionFactory
from tests.factories.registry import model_version_with_artifact
from tests.factories.training import TrainingRunFactory
from training.storage import artifact_exists

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=40)


def _version(number: int, **fields) -> ModelVersion:
    """A version with a real artifact and a real dataset file in storage."""
    version = model_version_with_artifact(version=number, **fields)
    dataset_version = version.training_run.dataset_version
    default_storage.save(dataset_version.file, ContentFile(b"parquet bytes"))
    return version


def _promote(version: ModelVersion) -> None:
    model_version_promote(version=version, actor=None, reason="Better on the golden set")


@pytest.fixture
def history():
    """v1 → v2 → v3 promoted in turn (v3 production, v2 previous production, v1 archived before
    that), v4 rejected, v5 a candidate; all 40 days old."""
    versions = {number: _version(number) for number in (1, 2, 3)}
    for number in (1, 2, 3):
        _promote(versions[number])
    versions[4] = _version(4, status=ModelVersion.Status.REJECTED, gate_passed=False)
    versions[5] = _version(5)
    ModelVersion.objects.update(created_at=timezone.now() - LONG_AGO)
    DatasetVersion.objects.update(created_at=timezone.now() - LONG_AGO)
    for version in versions.values():
        version.refresh_from_db()
    return versions


def test_old_archived_and_rejected_artifacts_are_pruned_and_production_is_kept(history):
    newest_dataset = DatasetVersionFactory(number=99_999)

    result = artifacts_prune(retention_days=30)

    assert sorted(result["model_versions"]) == [history[1].pk, history[4].pk]
    for number in (1, 4):
        version = ModelVersion.objects.get(pk=history[number].pk)
        assert version.pruned_at is not None
        assert not artifact_exists(version.artifact_uri)
        dataset_version = DatasetVersion.objects.get(pk=version.training_run.dataset_version_id)
        assert dataset_version.pruned_at is not None
        assert not default_storage.exists(dataset_version.file)
    # Production (v3), the previous production (v2) and the candidate (v5), with their datasets.
    for number in (2, 3, 5):
        version = ModelVersion.objects.get(pk=history[number].pk)
        assert version.pruned_at is None
        assert artifact_exists(version.artifact_uri)
        dataset_version = version.training_run.dataset_version
        assert dataset_version.pruned_at is None
        assert default_storage.exists(dataset_version.file)
    assert history[3].status == ModelVersion.Status.PRODUCTION
    assert history[2].status == ModelVersion.Status.ARCHIVED
    assert sorted(result["dataset_versions"]) == sorted(
        [history[1].training_run.dataset_version_id, history[4].training_run.dataset_version_id]
    )
    newest_dataset.refresh_from_db()
    assert newest_dataset.pruned_at is None


def test_nothing_younger_than_the_retention_period_is_pruned(history):
    assert artifacts_prune(retention_days=60) == {
        "model_versions": [],
        "dataset_versions": [],
        "experiment_samples": 0,
    }
    assert not ModelVersion.objects.filter(pruned_at__isnull=False).exists()


def test_a_dataset_an_active_training_reads_is_kept(history):
    dataset_version = history[4].training_run.dataset_version
    TrainingRunFactory(dataset_version=dataset_version, running=True)

    result = artifacts_prune(retention_days=30)

    assert dataset_version.pk not in result["dataset_versions"]
    assert default_storage.exists(dataset_version.file)


def test_pruning_twice_prunes_nothing_twice_and_the_task_runs_it(history, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "RETENTION_DAYS": 30}

    first = tasks.retention_prune.apply().get()
    second = tasks.retention_prune.apply().get()

    assert len(first["model_versions"]) == 2
    assert second == {"model_versions": [], "dataset_versions": [], "experiment_samples": 0}


def test_samples_of_experiments_that_ended_long_ago_are_deleted(history):
    from inference.models import ExperimentSample, ExperimentTally
    from registry.models import Experiment
    from registry.services import experiment_start, experiment_stop

    def experiment_with_a_sample(challenger: ModelVersion, *, stopped_days_ago: int | None) -> Experiment:
        experiment = experiment_start(version=challenger, mode="shadow", percent=10, reason="t", actor=None)
        ExperimentSample.objects.create(
            experiment=experiment,
            answered_by="champion",
            endpoint="predict",
            channel="generic",
            tone="bold",
            item={},
        )
        ExperimentTally.objects.create(experiment=experiment, arm="champion", requests=3, items=3)
        if stopped_days_ago is not None:
            experiment_stop(name=challenger.name, reason="over", actor=None)
            Experiment.objects.filter(pk=experiment.pk).update(
                stopped_at=timezone.now() - timedelta(days=stopped_days_ago)
            )
        return experiment

    old = experiment_with_a_sample(history[5], stopped_days_ago=40)
    recent = experiment_with_a_sample(history[5], stopped_days_ago=2)
    running = experiment_with_a_sample(history[5], stopped_days_ago=None)

    result = artifacts_prune(retention_days=30)

    assert result["experiment_samples"] == 1
    assert set(ExperimentSample.objects.values_list("experiment", flat=True)) == {recent.pk, running.pk}
    assert ExperimentTally.objects.filter(experiment=old).exists()  # the counts stay with the experiment
