"""`/metrics`: every name the dashboards use, the database gauges, and gunicorn's multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from prometheus_client.parser import text_string_to_metric_families

from registry.models import ModelVersion
from tests.factories.inference import DriftReportFactory
from tests.factories.pipeline import PipelineRunFactory
from tests.factories.registry import ModelVersionFactory

pytestmark = pytest.mark.django_db

ITEM = {"title": "Ridgeway Backpack 30 L", "description": "Ripstop nylon, sheds rain.", "category": "outdoor"}
METRICS_FILE = Path(settings.BASE_DIR) / "deploy" / "metrics.txt"


def _scrape(client) -> dict:
    """{family name: (type, [samples])} of one scrape of /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def _samples(families: dict) -> dict[str, list]:
    samples: dict[str, list] = {}
    for family in families.values():
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(families: dict, name: str, **labels) -> float:
    matches = [sample.value for sample in _samples(families).get(name, []) if sample.labels == labels]
    assert len(matches) == 1, f"{name}{labels}: {matches}"
    return matches[0]


def test_every_metric_in_deploy_metrics_txt_is_served_after_one_prediction(
    api, client, production_model, other_tiny_artifact, django_capture_on_commit_callbacks
):
    """One prediction while a shadow experiment runs on all requests: the experiment's series too."""
    from inference.live_experiments import LiveExperiment
    from registry.services import experiment_start
    from tests.factories.registry import model_version_with_artifact

    PipelineRunFactory(succeeded=True)
    DriftReportFactory(model_version=production_model)
    challenger = model_version_with_artifact(source=other_tiny_artifact, version=2)
    with django_capture_on_commit_callbacks(execute=True):
        experiment_start(version=challenger, mode="shadow", percent=100, reason="test", actor=None)
    live = LiveExperiment.for_name(production_model.name)
    live.current(check_now=True)
    live.wait_for_load(timeout=60)
    assert live.challenger is not None
    assert api.post("/api/v1/predict", ITEM, format="json").status_code == 200

    families = _scrape(client)

    samples = _samples(families)
    names = [
        line.strip()
        for line in METRICS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert names
    missing = []
    for name in names:
        family = next((f for f in families.values() if name in (f.name, f"{f.name}_total")), None)
        sample_name = f"{name}_bucket" if family is not None and family.type == "histogram" else name
        if sample_name not in samples:
            missing.append(sample_name)
    assert missing == []


def test_prediction_metrics_carry_version_and_endpoint(api, client, production_model):
    api.post("/api/v1/predict", ITEM, format="json")
    api.post("/api/v1/batch_predict", {"items": [ITEM, ITEM]}, format="json")

    families = _scrape(client)

    assert _value(families, "creativeops_predictions_total", model_version="1", endpoint="predict") >= 1
    assert _value(families, "creativeops_predictions_total", model_version="1", endpoint="batch_predict") >= 2
    assert _value(families, "creativeops_prediction_latency_seconds_count", endpoint="batch_predict") >= 1
    assert _value(families, "creativeops_model_loaded_version", model_name=production_model.name) == 1
    assert _value(families, "creativeops_model_loads_total", result="success") >= 1


def test_database_gauges_describe_the_shared_state(client, production_model):
    from django.utils import timezone

    two_days_ago = timezone.now() - timedelta(days=2)
    PipelineRunFactory.create_batch(2, succeeded=True, finished_at=two_days_ago)
    PipelineRunFactory(succeeded=True, status="failed", finished_at=None)
    old = PipelineRunFactory(succeeded=True, status="failed")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    last_finished = timezone.now() - timedelta(minutes=5)
    PipelineRunFactory(succeeded=True, finished_at=last_finished)
    waiting = ModelVersionFactory(version=2, status=ModelVersion.Status.CANDIDATE)
    ModelVersion.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(hours=2))
    ModelVersionFactory(version=3, status=ModelVersion.Status.CANDIDATE)
    DriftReportFactory(psi={"price": 0.5}, max_psi=0.5)
    DriftReportFactory(psi={"price": 0.05, "title_length": 0.31}, max_psi=0.31)

    families = _scrape(client)

    assert _value(families, "creativeops_metrics_database_up") == 1
    assert _value(families, "creativeops_pipeline_runs", status="succeeded") == 3
    assert _value(families, "creativeops_pipeline_runs", status="failed") == 1  # the 8-day-old one is out
    assert _value(families, "creativeops_pipeline_runs", status="running") == 0
    last_success = _value(families, "creativeops_pipeline_last_success_timestamp_seconds")
    assert last_success == pytest.approx(last_finished.timestamp())
    assert _value(families, "creativeops_candidates_waiting") == 2
    assert 7100 < _value(families, "creativeops_candidate_oldest_waiting_seconds") < 7300
    assert _value(families, "creativeops_production_model_version", model_name=production_model.name) == 1
    assert (
        _value(
            families,
            "creativeops_production_model_metric",
            model_name=production_model.name,
            metric="rouge_l",
        )
        == production_model.metrics["rouge_l"]
    )
    assert _value(families, "creativeops_drift_psi", feature="title_length") == 0.31  # the latest report only
    assert _value(families, "creativeops_drift_psi", feature="price") == 0.05
    assert _value(families, "creativeops_drift_max_psi") == 0.31


def test_empty_database_reports_zeros_not_gaps(client):
    families = _scrape(client)

    assert _value(families, "creativeops_pipeline_last_success_timestamp_seconds") == 0
    assert _value(families, "creativeops_candidates_waiting") == 0
    assert _value(families, "creativeops_candidate_oldest_waiting_seconds") == 0
    assert (
        _value(
            families,
            "creativeops_production_model_version",
            model_name=settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
        )
        == 0
    )
    assert "creativeops_drift_max_psi" not in _samples(families)  # no report yet: no value to show


def test_a_database_outage_does_not_break_the_scrape(client):
    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        families = _scrape(client)

    assert _value(families, "creativeops_metrics_database_up") == 0
    assert "creativeops_batch_size" in families  # the process metrics are still there
    assert "creativeops_pipeline_runs" not in families


WORKER_SCRIPT = """
import sys
from inference import metrics
items = int(sys.argv[1])
metrics.prediction_observe(model_version=7, endpoint="predict", items=items, seconds=0.05 * items)
metrics.model_load_observe(succeeded=True)
metrics.model_loaded_version_set(model_name="creative-generator", version=7)
"""


def test_multiprocess_mode_sums_the_gunicorn_workers(client, tmp_path, monkeypatch, production_model):
    """Two worker processes write their metrics to PROMETHEUS_MULTIPROC_DIR; a scrape answered by any
    process (here the test's) must show the sum of both, next to the database gauges."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "creativeops.settings_test",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(items)], env=environment, cwd=settings.BASE_DIR
        )
        for items in (3, 4)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    assert sorted(path.name.split("_")[0] for path in directory.glob("*.db"))  # mmap files were written

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    families = _scrape(client)

    assert _value(families, "creativeops_predictions_total", model_version="7", endpoint="predict") == 7
    assert _value(families, "creativeops_batch_size_count") == 2
    assert _value(families, "creativeops_batch_size_sum") == 7
    assert _value(families, "creativeops_model_loads_total", result="success") == 2
    pids = {str(worker.pid) for worker in workers}
    loaded = [
        s
        for s in _samples(families)["creativeops_model_loaded_version"]
        if s.labels["model_name"] == "creative-generator"
    ]
    assert {
        sample.labels["pid"] for sample in loaded
    } == pids  # liveall: one series per worker (until marked dead)
    assert {sample.value for sample in loaded} == {7}
    assert _value(families, "creativeops_production_model_version", model_name=production_model.name) == 1


# --- who may scrape ----------------------------------------------------------------------------


def test_a_scrape_relayed_by_a_proxy_is_refused_without_a_token(client):
    assert client.get("/metrics").status_code == 200
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"):
        response = client.get("/metrics", **{header: "203.0.113.9"})
        assert response.status_code == 404, header
        assert b"creativeops_" not in response.content


def test_proxied_scrapes_can_be_allowed(client, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "METRICS_ALLOW_PROXIED": True}

    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 200


def test_with_a_token_a_scrape_must_send_it_and_then_may_come_through_a_proxy(client, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "METRICS_TOKEN": "s3cret-scrape-token"}

    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
        {"HTTP_AUTHORIZATION": "s3cret-scrape-token"},
    ):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"METRICS_TOKEN" in response.content
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert response.status_code == 200
    assert b"django_http_requests" in response.content
