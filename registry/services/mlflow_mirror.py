"""The MLflow Model Registry as a mirror of ours, for people who browse models in MLflow.

Django is the source of truth. Each ModelVersion becomes a version of the registered model of the
same name (tagged with its id, status and checksum), and the `champion` alias follows production.
Mirroring runs after commit in a Celery task with retries; when MLflow cannot be reached the
registry change still stands, `mlflow_synced` stays False, and `mlflow_catch_up` (periodic) syncs
it later. Every step is idempotent: a retried task finds the MLflow version by its id tag instead
of creating a second one.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction

from registry import selectors
from registry.models import ModelVersion
from registry.services import events

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
TAG_VERSION_ID = "creativeops.model_version_id"
TAG_STATUS = "creativeops.status"
TAG_SHA256 = "creativeops.artifact_sha256"
PROBE_TIMEOUT_SECONDS = 3.0


class MlflowUnavailable(Exception):
    """MLflow could not be reached or refused the call; the task retries and catch-up resumes."""


def _probe(tracking_uri: str) -> None:
    """Fail in milliseconds when an HTTP tracking server is down, instead of MLflow's long retries."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=PROBE_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise MlflowUnavailable(f"MLflow at {tracking_uri} cannot be reached: {error}")


def _client():
    """A client for the tracking URI configured *now* (tests and commands change it at run time)."""
    from mlflow.tracking import MlflowClient

    uri = settings.MLFLOW_TRACKING_URI
    _probe(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _mlflow_errors() -> tuple[type[BaseException], ...]:
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, OSError)


def _ensure_registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(
                name, description="Mirror of the CreativeOps registry; Django is the source of truth."
            )
        except MlflowException:
            client.get_registered_model(name)  # created concurrently by another task; else re-raise


def _source_and_run(client, version: ModelVersion) -> tuple[str, str | None]:
    """The training run's MLflow artifact folder when that run exists in this store, else the path."""
    from mlflow.exceptions import MlflowException

    from training.storage import storage_source
    from training.tracking import ARTIFACT_PATH

    run_id = version.training_run.mlflow_run_id or None
    if run_id:
        try:
            return f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}", run_id
        except MlflowException:
            logger.info("MLflow run %s of %s v%s is not in this store", run_id, version.name, version.version)
    return storage_source(version.artifact_uri), None


def _mirrored_version(client, version: ModelVersion) -> str:
    """The MLflow version number of `version`, found by its id tag or created once."""
    from mlflow.exceptions import MlflowException

    if version.mlflow_version:
        try:
            mirrored = client.get_model_version(version.name, version.mlflow_version)
            if mirrored.tags.get(TAG_VERSION_ID) == str(version.pk):
                return version.mlflow_version
        except MlflowException:
            logger.info("MLflow lost %s version %s; mirroring again", version.name, version.mlflow_version)
    found = client.search_model_versions(f"name='{version.name}' and tags.`{TAG_VERSION_ID}`='{version.pk}'")
    if found:
        return str(found[0].version)
    source, run_id = _source_and_run(client, version)
    created = client.create_model_version(
        version.name,
        source=source,
        run_id=run_id,
        tags={TAG_VERSION_ID: str(version.pk), TAG_SHA256: version.artifact_sha256},
        description=f"CreativeOps {version.name} v{version.version}",
    )
    return str(created.version)


def _sync_champion(client, name: str) -> str | None:
    """Point `champion` at the production version (registering it first if it is not mirrored yet)."""
    production = selectors.production_version(name)
    if production is None:
        return None
    mlflow_version = _mirrored_version(client, production)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, mlflow_version)
    if not production.mlflow_version:
        ModelVersion.objects.filter(pk=production.pk, mlflow_version="").update(mlflow_version=mlflow_version)
    return mlflow_version


def mlflow_version_sync(*, version: ModelVersion) -> ModelVersion:
    """Mirror one version (and the champion alias of its model) to MLflow; raise MlflowUnavailable."""
    version = ModelVersion.objects.select_related("training_run").get(pk=version.pk)
    status_seen = version.status
    try:
        client = _client()
        _ensure_registered_model(client, version.name)
        mlflow_version = _mirrored_version(client, version)
        client.set_model_version_tag(version.name, mlflow_version, TAG_STATUS, status_seen)
        champion = _sync_champion(client, version.name)
    except _mlflow_errors() as error:
        raise MlflowUnavailable(f"Mirroring {version.name} v{version.version} to MLflow failed: {error}")
    with transaction.atomic():
        # Only when the status is still the one mirrored: a newer change has queued its own sync.
        updated = ModelVersion.objects.filter(pk=version.pk, status=status_seen).update(
            mlflow_version=mlflow_version, mlflow_synced=True
        )
        if updated:
            alias = f"; alias {CHAMPION_ALIAS} → version {champion}" if champion else ""
            events.mlflow_sync_event(
                version=version,
                reason=(
                    f"Mirrored {version.name} v{version.version} ({status_seen}) to the MLflow registry "
                    f"as version {mlflow_version}{alias}."
                ),
            )
    version.refresh_from_db()
    return version


def mlflow_catch_up() -> int:
    """Sync every version not yet mirrored (oldest first) and re-point each champion alias.

    Stops at the first unreachable-MLflow error (re-raised): the next periodic run resumes.
    """
    synced = 0
    pending = ModelVersion.objects.filter(mlflow_synced=False).order_by("created_at", "pk")
    for version in pending:
        mlflow_version_sync(version=version)
        synced += 1
    names = ModelVersion.objects.production().values_list("name", flat=True)
    if names:
        try:
            client = _client()
            for name in names:
                _sync_champion(client, name)
        except _mlflow_errors() as error:
            raise MlflowUnavailable(f"Re-pointing the {CHAMPION_ALIAS} alias failed: {error}")
    return synced
