"""Prometheus metrics of the serving path and of the model's life, and the `/metrics` payload.

Names are an interface: the Grafana dashboard and the alert rules (deploy/) query them, and
deploy/metrics.txt lists them; a test scrapes `/metrics` and checks every listed name is there.

Two kinds of metrics live here:

* process metrics (counters, histograms, a gauge) updated by the serving code. Under gunicorn every
  worker is its own process, so with `PROMETHEUS_MULTIPROC_DIR` set prometheus_client writes them to
  memory-mapped files and a scrape sums the files of all workers (`MultiProcessCollector`);
* database metrics (pipeline runs, candidates, the production version, drift) read at scrape time by
  `DatabaseCollector`: they describe the shared state, so every worker reports the same truth and
  nothing has to be kept in sync.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PIPELINE_WINDOW_DAYS = 7

PREDICTIONS = Counter(
    "creativeops_predictions_total",
    "Items the production model wrote creatives for, by model version and endpoint.",
    ["model_version", "endpoint"],
)
PREDICTION_LATENCY = Histogram(
    "creativeops_prediction_latency_seconds",
    "Time of one generation call on the model (one request: a single item or a whole batch).",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
BATCH_SIZE = Histogram(
    "creativeops_batch_size",
    "Items per generation call (the model generates them in one padded batch).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
MODEL_LOADS = Counter(
    "creativeops_model_loads_total",
    "Attempts of a web process to load a model version, by result (success / failure).",
    ["result"],
)
# liveall: one series per live worker (label `pid` in multiprocess mode), so a worker that is still on
# the old version after a promotion is visible; `max by (model_name)` gives the fleet's newest.
MODEL_LOADED_VERSION = Gauge(
    "creativeops_model_loaded_version",
    "Model version this process serves (absent until it has loaded one).",
    ["model_name"],
    multiprocess_mode="liveall",
)


def prediction_observe(*, model_version: int, endpoint: str, items: int, seconds: float) -> None:
    PREDICTIONS.labels(model_version=str(model_version), endpoint=endpoint).inc(items)
    PREDICTION_LATENCY.labels(endpoint=endpoint).observe(seconds)
    BATCH_SIZE.observe(items)


def model_load_observe(*, succeeded: bool) -> None:
    MODEL_LOADS.labels(result="success" if succeeded else "failure").inc()


def model_loaded_version_set(*, model_name: str, version: int) -> None:
    MODEL_LOADED_VERSION.labels(model_name=model_name).set(version)


class DatabaseCollector(Collector):
    """Gauges computed from the database at scrape time.

    The pipeline app sits to the right of inference in the dependency order, so its model is looked up
    by label (`apps.get_model`) instead of imported. A database that cannot be read does not break the
    scrape: the process metrics are still served and `creativeops_metrics_database_up` says 0.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "creativeops_metrics_database_up", "1 when the database metrics below could be read."
        )
        try:
            families = list(self._families())
        except DatabaseError:
            logger.warning("/metrics: the database metrics could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        yield from self._pipeline(now)
        yield from self._registry(now)
        yield from self._drift()

    def _pipeline(self, now) -> Iterator[GaugeMetricFamily]:
        pipeline_run = apps.get_model("pipeline", "PipelineRun")
        runs = GaugeMetricFamily(
            "creativeops_pipeline_runs",
            f"Pipeline runs created in the last {PIPELINE_WINDOW_DAYS} days, by status.",
            labels=["status"],
        )
        since = now - timedelta(days=PIPELINE_WINDOW_DAYS)
        counts = dict(
            pipeline_run.objects.filter(created_at__gte=since)
            .values_list("status")
            .annotate(count=Count("id"))
            .values_list("status", "count")
        )
        for status in pipeline_run.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        last_success = (
            pipeline_run.objects.filter(status=pipeline_run.Status.SUCCEEDED, finished_at__isnull=False)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        yield GaugeMetricFamily(
            "creativeops_pipeline_last_success_timestamp_seconds",
            "Unix time the last successful pipeline run finished (0: none has succeeded yet).",
            value=last_success.timestamp() if last_success else 0,
        )

    def _registry(self, now) -> Iterator[GaugeMetricFamily]:
        from registry.models import ModelVersion

        waiting = ModelVersion.objects.candidates().aggregate(count=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            "creativeops_candidates_waiting",
            "Model versions waiting for an operator's approval.",
            value=waiting["count"],
        )
        oldest = waiting["oldest"]
        yield GaugeMetricFamily(
            "creativeops_candidate_oldest_waiting_seconds",
            "How long the oldest candidate has waited for approval (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest else 0,
        )

        version = GaugeMetricFamily(
            "creativeops_production_model_version",
            "Version number in production per model name (0 while none is).",
            labels=["model_name"],
        )
        metric = GaugeMetricFamily(
            "creativeops_production_model_metric",
            "The production version's own evaluation metrics, by model name and metric.",
            labels=["model_name", "metric"],
        )
        production = {
            row.name: row for row in ModelVersion.objects.production().only("name", "version", "metrics")
        }
        for name in sorted({settings.CREATIVEOPS["DEFAULT_MODEL_NAME"], *production}):
            row = production.get(name)
            version.add_metric([name], row.version if row else 0)
            for key, value in sorted((row.metrics if row else {}).items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metric.add_metric([name, key], float(value))
        yield version
        yield metric

    def _drift(self) -> Iterator[GaugeMetricFamily]:
        from inference.models import DriftReport

        report = DriftReport.objects.order_by("-created_at", "-id").first()
        psi = GaugeMetricFamily(
            "creativeops_drift_psi",
            "Population stability index per input feature in the latest drift report.",
            labels=["feature"],
        )
        for feature, value in sorted((report.psi if report else {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                psi.add_metric([feature], float(value))
        yield psi
        if report is not None and report.max_psi is not None:
            yield GaugeMetricFamily(
                "creativeops_drift_max_psi",
                "Largest per-feature PSI in the latest drift report.",
                value=report.max_psi,
            )


class _DefaultRegistryCollector(Collector):
    """The default registry's metrics (django-prometheus and ours) re-exported into a fresh registry."""

    def collect(self):
        return REGISTRY.collect()


def multiprocess_directory() -> str | None:
    # The lower-case name is prometheus_client's deprecated spelling, still honoured by MultiProcessCollector.
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None  # noqa: SIM112


def metrics_payload() -> tuple[bytes, str]:
    """The text exposition of every metric this deployment serves, and its content type.

    In multiprocess mode the process registry would show only the scraped worker's own counters, so
    the sums come from the shared directory instead; the database gauges are added either way.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_directory():
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
