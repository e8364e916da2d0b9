"""The model inside a process: first load, hot swap under load, a broken artifact, back-off, preload."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from prometheus_client import REGISTRY

from creativeops.core.errors import ApplicationError
from inference import model_manager
from inference.model_manager import ModelManager, model_get
from registry.models import ModelVersion
from registry.services.promotion import model_version_promote
from tests.factories.registry import model_version_with_artifact

PREDICT = "/api/v1/predict"
ITEM = {"title": "Ridgeway Backpack 30 L", "description": "Ripstop nylon, sheds rain.", "category": "outdoor"}


def _failures() -> float:
    return REGISTRY.get_sample_value("creativeops_model_loads_total", {"result": "failure"}) or 0.0


def _promote(version: ModelVersion, capture) -> None:
    with capture(execute=True):
        model_version_promote(version=version, actor=None, reason="test promotion")


def _flip_a_byte(version: ModelVersion, file_name: str = "model.safetensors") -> None:
    path = Path(default_storage.path(version.artifact_uri)) / file_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_hot_swap_under_load(api, production_model, tiny_artifact, check_interval, high_rates):
    """A client keeps predicting while v2 is promoted: no request fails, answers move to v2 promptly."""
    second = model_version_with_artifact(source=tiny_artifact, version=2)
    answers: list[tuple[float, int, int | None]] = []
    stop = threading.Event()

    def client_loop():
        try:
            while not stop.is_set():
                response = api.post(PREDICT, ITEM, format="json")
                version = response.json().get("model_version") if response.status_code == 200 else None
                answers.append((time.monotonic(), response.status_code, version))
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=client_loop)
    thread.start()
    try:
        _wait_until(lambda: len(answers) >= 3)
        model_version_promote(version=second, actor=None, reason="hot swap test")  # commits: on_commit runs
        promoted_at = time.monotonic()
        _wait_until(lambda: answers and answers[-1][2] == 2)
        switched_at = next(at for at, _status, version in answers if version == 2)
        _wait_until(lambda: len([answer for answer in answers if answer[2] == 2]) >= 3)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert all(status == 200 for _at, status, _version in answers), answers
    versions = [version for _at, _status, version in answers]
    first_v2 = versions.index(2)
    assert set(versions[:first_v2]) == {1} and set(versions[first_v2:]) == {2}  # one switch, never back
    # Noticed within the check interval; the rest is loading the (tiny) model beside the old one.
    assert switched_at - promoted_at < check_interval + 5.0
    assert ModelManager.for_name().loaded.version == 2


@pytest.mark.django_db
def test_requests_in_flight_finish_on_the_model_they_started_with(
    production_model, tiny_artifact, check_interval, django_capture_on_commit_callbacks
):
    in_flight = model_get()
    _promote(model_version_with_artifact(source=tiny_artifact, version=2), django_capture_on_commit_callbacks)
    time.sleep(check_interval)

    model_get()  # notices the promotion and loads v2 beside v1
    ModelManager.for_name().wait_for_swap(timeout=30)

    assert model_get().version == 2
    assert in_flight.version == 1
    generated = in_flight.generator.generate([ITEM], tone="bold")  # the old model still works
    assert len(generated[0]) == 1


@pytest.mark.django_db
def test_corrupt_artifact_keeps_the_old_model_serving(
    api, client, production_model, tiny_artifact, check_interval, django_capture_on_commit_callbacks
):
    assert api.post(PREDICT, ITEM, format="json").json()["model_version"] == 1
    failures_before = _failures()
    broken = model_version_with_artifact(source=tiny_artifact, version=2)
    _promote(broken, django_capture_on_commit_callbacks)
    _flip_a_byte(broken)  # after the registry verified it: shared storage went bad under serving
    time.sleep(check_interval)

    during = api.post(PREDICT, ITEM, format="json")
    ModelManager.for_name().wait_for_swap(timeout=30)
    after = api.post(PREDICT, ITEM, format="json")

    assert (during.status_code, during.json()["model_version"]) == (200, 1)
    assert (after.status_code, after.json()["model_version"]) == (200, 1)
    assert _failures() == failures_before + 1
    ready = client.get("/ready")
    assert ready.status_code == 200  # v1 still serves: taking every pod out would be an outage
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["model"]["version"] == 1
    [reason] = body["reasons"]
    assert "model v2 failed to load" in reason
    assert "model.safetensors: checksum differs from the manifest" in reason
    assert reason.endswith("; still serving v1")
    info = api.get("/api/v1/info").json()
    assert info["production"]["version"] == 2
    assert info["serving"]["version"] == 1
    assert "model.safetensors: checksum differs from the manifest" in info["load_failure"]

    # Not retried on every request: the same key stays settled until the registry changes again.
    time.sleep(check_interval * 2)
    api.post(PREDICT, ITEM, format="json")
    ModelManager.for_name().wait_for_swap(timeout=30)
    assert _failures() == failures_before + 1

    # The next promotion is loaded normally and clears the failure.
    _promote(model_version_with_artifact(source=tiny_artifact, version=3), django_capture_on_commit_callbacks)
    time.sleep(check_interval)
    api.post(PREDICT, ITEM, format="json")
    ModelManager.for_name().wait_for_swap(timeout=30)
    assert api.post(PREDICT, ITEM, format="json").json()["model_version"] == 3
    assert client.get("/ready").json()["reasons"] == []


@pytest.mark.django_db
def test_checksum_differing_from_the_registry_is_refused(api, client, tiny_artifact):
    version = model_version_with_artifact(
        source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION
    )
    ModelVersion.objects.filter(pk=version.pk).update(artifact_sha256="f" * 64)
    failures_before = _failures()

    response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert message.startswith("The production model could not be loaded: model v1 failed to load at ")
    assert "the registry recorded ffffffffffff…; refusing to serve it." in message
    assert _failures() == failures_before + 1
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reasons": [message]}


@pytest.mark.django_db
def test_a_process_without_a_model_retries_after_the_back_off(api, tiny_artifact, monkeypatch):
    version = model_version_with_artifact(
        source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION
    )
    _flip_a_byte(version, "config.json")
    monkeypatch.setattr(model_manager, "FAILURE_RETRY_SECONDS", 0.2)
    failures_before = _failures()

    assert api.post(PREDICT, ITEM, format="json").status_code == 503
    assert api.post(PREDICT, ITEM, format="json").status_code == 503  # within the back-off: no new attempt
    assert _failures() == failures_before + 1

    # The storage recovers (here: the file is restored) and the next attempt after the back-off loads it.
    (Path(default_storage.path(version.artifact_uri)) / "config.json").write_bytes(
        (tiny_artifact / "config.json").read_bytes()
    )
    time.sleep(0.25)
    response = api.post(PREDICT, ITEM, format="json")
    assert (response.status_code, response.json()["model_version"]) == (200, 1)


@pytest.mark.django_db
def test_missing_artifact_folder_is_reported(api, tiny_artifact):
    version = model_version_with_artifact(
        source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION
    )
    ModelVersion.objects.filter(pk=version.pk).update(artifact_uri="models/gone")

    response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 503
    assert "Artifact models/gone is missing from artifact storage" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_no_production_model_is_an_application_error_503():
    with pytest.raises(ApplicationError) as raised:
        model_get()

    assert raised.value.status_code == 503
    assert raised.value.message == (
        "No model is in production yet: train one and promote it "
        "(manage.py run_pipeline, then promote in the admin)."
    )


@pytest.mark.django_db
def test_preload_loads_at_start_only_when_configured(production_model, settings):
    model_manager.preload_models()
    assert ModelManager.for_name().loaded is None

    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "PRELOAD_MODEL": True}
    model_manager.preload_models()
    assert ModelManager.for_name().loaded.version == 1


def test_preload_without_a_model_only_logs(db, settings, caplog):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "PRELOAD_MODEL": True}

    model_manager.preload_models()

    assert "Model preload: No model is in production yet" in caplog.text


@pytest.mark.django_db
def test_torch_threads_are_set_lazily_on_the_first_load(production_model, settings, monkeypatch):
    import torch

    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "TORCH_NUM_THREADS": 1}
    monkeypatch.setattr(model_manager, "_torch_configured", False)
    torch.set_num_threads(2)
    try:
        model_get()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)


def test_importing_the_serving_code_leaves_torch_threads_alone():
    """TORCH_NUM_THREADS is applied on the first model load in a process, never when Django starts:
    gunicorn forks workers from a master, and a torch pool configured before the fork is broken."""
    import os
    import subprocess
    import sys

    bare = "import torch; print(torch.get_num_threads())"
    served = (
        "import django, sys; django.setup(); "
        "import creativeops.urls, inference.apis, inference.services, inference.model_manager, torch; "
        "print(torch.get_num_threads())"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "creativeops.settings_test"}
    environment.pop("OMP_NUM_THREADS", None)

    def run(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip()

    default_threads = run(bare)
    environment["TORCH_NUM_THREADS"] = str(int(default_threads) + 1)  # a value the import must not apply

    assert run(served) == default_threads


@pytest.mark.django_db
def test_a_cache_outage_does_not_stop_serving(api, client, production_model, settings):
    """The version key and the throttle counters live in the cache; with the cache unreachable the
    model is found in the database and requests are not throttled rather than refused."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }

    response = api.post(PREDICT, ITEM, format="json")

    assert (response.status_code, response.json()["model_version"]) == (200, 1)
    assert client.get("/ready").status_code == 200


def _refuse_registry_reads(execute, sql, params, many, context):
    from django.db import OperationalError

    if '"registry_modelversion"' in sql:
        raise OperationalError("registry table unreachable")
    return execute(sql, params, many, context)


@pytest.mark.django_db
def test_a_registry_outage_keeps_the_loaded_model_serving(api, production_model, check_interval):
    from django.core.cache import cache
    from django.db import connection

    assert api.post(PREDICT, ITEM, format="json").status_code == 200
    cache.clear()  # the next check must read the database, which now fails
    time.sleep(check_interval)

    with connection.execute_wrapper(_refuse_registry_reads):
        response = api.post(PREDICT, ITEM, format="json")

    assert (response.status_code, response.json()["model_version"]) == (200, 1)


@pytest.mark.django_db
def test_a_registry_outage_before_any_load_is_a_503(api, production_model):
    from django.db import connection

    with connection.execute_wrapper(_refuse_registry_reads):
        response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "error": {"message": "The model registry could not be read (OperationalError); retry shortly."}
    }
