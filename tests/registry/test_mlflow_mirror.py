"""The MLflow Model Registry mirror: versions, the `champion` alias, outages and catch-up.

A real local MLflow store (the session's SQLite one); each test uses its own model name, because the
store outlives the test database.
"""

from __future__ import annotations

import uuid

import pytest
from mlflow.tracking import MlflowClient

from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote
from registry.services.mlflow_mirror import CHAMPION_ALIAS, TAG_STATUS, TAG_VERSION_ID
from registry.tasks import mirror_to_mlflow, mlflow_catch_up
from tests.factories.registry import model_version_with_artifact

pytestmark = pytest.mark.django_db


@pytest.fixture
def name():
    return f"mirror-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def versions(name):
    return [model_version_with_artifact(version=number, name=name) for number in (1, 2)]


def client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def promote(version, user, callbacks):
    with callbacks(execute=True):
        return model_version_promote(version=version, actor=user, reason="Mirror test.")


def test_promotion_moves_the_champion_alias(
    name, versions, operator_user, mlflow_up, django_capture_on_commit_callbacks
):
    v1, v2 = versions
    promote(v1, operator_user, django_capture_on_commit_callbacks)
    v1.refresh_from_db()
    assert v1.mlflow_synced is True
    assert (
        str(client(mlflow_up).get_model_version_by_alias(name, CHAMPION_ALIAS).version) == v1.mlflow_version
    )

    promote(v2, operator_user, django_capture_on_commit_callbacks)

    v1.refresh_from_db()
    v2.refresh_from_db()
    mlflow = client(mlflow_up)
    champion = mlflow.get_model_version_by_alias(name, CHAMPION_ALIAS)
    assert str(champion.version) == v2.mlflow_version
    assert champion.tags[TAG_VERSION_ID] == str(v2.pk)
    assert champion.tags[TAG_STATUS] == "production"
    assert mlflow.get_model_version(name, v1.mlflow_version).tags[TAG_STATUS] == "archived"
    assert (v1.mlflow_synced, v2.mlflow_synced) == (True, True)
    assert RegistryEvent.objects.filter(action=RegistryEvent.Action.MLFLOW_SYNC, to_version=v2).exists()


def test_a_retried_mirror_does_not_create_a_second_mlflow_version(name, versions, mlflow_up):
    v1 = versions[0]

    mirror_to_mlflow.delay(v1.pk)
    ModelVersion.objects.filter(pk=v1.pk).update(
        mlflow_version="", mlflow_synced=False
    )  # as if the save was lost
    mirror_to_mlflow.delay(v1.pk)

    found = client(mlflow_up).search_model_versions(f"name='{name}'")
    assert len(found) == 1
    v1.refresh_from_db()
    assert (v1.mlflow_version, v1.mlflow_synced) == (str(found[0].version), True)


def test_promotion_succeeds_while_mlflow_is_down_and_catch_up_syncs_later(
    name, versions, operator_user, mlflow_down, settings, mlflow_store, django_capture_on_commit_callbacks
):
    v1 = versions[0]

    promote(v1, operator_user, django_capture_on_commit_callbacks)

    v1.refresh_from_db()
    assert v1.status == ModelVersion.Status.PRODUCTION
    assert (v1.mlflow_synced, v1.mlflow_version) == (False, "")

    settings.MLFLOW_TRACKING_URI = mlflow_store["tracking_uri"]  # MLflow is back
    synced = mlflow_catch_up.delay().get()

    v1.refresh_from_db()
    assert synced == 2  # both versions were waiting
    assert v1.mlflow_synced is True
    champion = client(mlflow_store["tracking_uri"]).get_model_version_by_alias(name, CHAMPION_ALIAS)
    assert str(champion.version) == v1.mlflow_version
    assert not ModelVersion.objects.filter(name=name, mlflow_synced=False).exists()


def test_catch_up_while_mlflow_is_still_down_changes_nothing(versions, mlflow_down):
    result = mlflow_catch_up.delay()

    assert result.failed()
    assert "cannot be reached" in str(result.result)
    assert not ModelVersion.objects.filter(mlflow_synced=True).exists()
