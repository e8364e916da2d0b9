"""Celery tasks of the registry: thin wrappers that take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from creativeops.core.retries import TRANSIENT_ERRORS
from registry.models import ModelVersion
from registry.services import mlflow_mirror
from registry.services.mlflow_mirror import MlflowUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # The one transient policy, plus the tracking server being away (an outside service).
    autoretry_for=(*TRANSIENT_ERRORS, MlflowUnavailable),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=120,
    time_limit=150,
)
def mirror_to_mlflow(model_version_id: int) -> None:
    """Mirror one version to MLflow. After the last retry it stays unsynced for `mlflow_catch_up`."""
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None:
        logger.warning("Model version %s no longer exists; nothing to mirror", model_version_id)
        return
    mlflow_mirror.mlflow_version_sync(version=version)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=600,
    time_limit=660,
)
def mlflow_catch_up() -> int:
    """Periodic (beat): mirror what an MLflow outage left unsynced. An outage fails this run (it is
    logged by Celery) and the next run resumes; the registry itself never waits for MLflow."""
    return mlflow_mirror.mlflow_catch_up()
