"""Fixtures every test gets: artifacts and the MLflow store in temporary folders, a clean cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection


def pytest_collection_modifyitems(items):
    """Every transactional test must use serialized_rollback.

    A transactional test empties the tables afterwards. Without serialized_rollback Django then
    re-creates the content types and permissions with new ids, and the next test that restores the
    serialized data (roles, schedule, content types with their original ids) fails on a duplicate.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(
                f"{item.nodeid}: use @pytest.mark.django_db(transaction=True, serialized_rollback=True)"
            )


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """One real local MLflow store (SQLite backend) for the whole run: creating one costs seconds."""
    root = tmp_path_factory.mktemp("mlflow")
    return {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": (root / "artifacts").as_uri()}


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path, mlflow_store):
    settings.MEDIA_ROOT = tmp_path / "artifacts"
    settings.MLFLOW_TRACKING_URI = mlflow_store["tracking_uri"]
    settings.MLFLOW_ARTIFACT_ROOT = mlflow_store["artifact_root"]
    yield


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()
    # what a process remembers of a running experiment (and its challenger) must not outlive the test
    from inference.live_experiments import live_experiments_reset
    from inference.services.experiment_samples import experiment_samples_reset

    live_experiments_reset()
    experiment_samples_reset()


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (the CI run does)")
    return True


@pytest.fixture
def operator_user(django_user_model):
    from tests.factories.users import make_user

    return make_user("operator", groups=["operators"])


@pytest.fixture
def marketer_user(django_user_model):
    from tests.factories.users import make_user

    return make_user("marketer", groups=["marketers"], is_staff=False)
