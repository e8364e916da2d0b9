"""Prometheus metrics of the serving path and of the model's life, and the `/metrics` payload.

Names are an interface: the Grafana dashboard and the alert rules (deploy/) query them, and
deploy/metrics.txt lists them; a test scrapes `/metrics` and checks every listed name is there.

Two kinds of metrics live here:

* process metrics (counters, histograms, a gauge) updated by the serving code. Under gunicorn every
  worker is its own process, so with `PROMETHEUS_MULTIPROC_DIR` set prometheus_client writes them to
  memory-mapped files and a scrape sums the files of all workers (`MultiProcessCollector`);
* the registry's database gauges (candidates waiting, the production version and its metrics),
  `registry_gauges`, read at scrape time: they describe the shared state, so every worker reports the
  same truth. The `/metrics` view (`creativeops.console`) adds them with the pipeline's and the drift
  check's own gauges through `creativeops.core.metrics.metrics_payload`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from django.conf import settings
from django.db.models import Count, Min
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from training.ml.policy_lint import CODES as LINT_CODES

logger = logging.getLogger(__name__)

PREDICTIONS = Counter(
    "creativeops_predictions_total",
    "Items the production model wrote creatives for, by model version and endpoint.",
    ["model_version", "endpoint"],
)
PREDICTION_LATENCY = Histogram(
    "creativeops_prediction_latency_seconds",
    "Time of one request's generation: its wait in the dynamic batcher plus the batched call that "
    "generated it (a single item or a whole batch_predict).",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
BATCH_SIZE = Histogram(
    "creativeops_batch_size",
    "Items per generation call (the model generates them in one padded batch).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCH_ROWS = Histogram(
    "creativeops_batch_rows",
    "Rows (items x variants, of every request it gathered) per batched generation of the dynamic batcher.",
    buckets=(1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256),
)
BATCH_QUEUE_WAIT = Histogram(
    "creativeops_batch_queue_wait_seconds",
    "Time a prediction waited in the dynamic batcher's queue before its batch started generating.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
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

EXPERIMENT_REQUESTS = Counter(
    "creativeops_experiment_requests_total",
    "Requests of a running experiment by the arm that wrote them (champion: production; challenger: the "
    "candidate, answering a canary client or writing a shadow copy), model version and mode.",
    ["model_name", "model_version", "arm", "mode"],
)
EXPERIMENT_LATENCY = Histogram(
    "creativeops_experiment_latency_seconds",
    "Generation time of an experiment's requests by arm and model version (a shadow copy's is measured "
    "in the experiment worker, off the request path).",
    ["model_version", "arm"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
EXPERIMENT_SHADOW_DROPPED = Counter(
    "creativeops_experiment_shadow_dropped_total",
    "Shadow requests not run on the challenger: the process's experiment worker had EXPERIMENT_QUEUE_MAX "
    "requests waiting.",
)

LINT_FINDINGS = Counter(
    "creativeops_creative_lint_findings_total",
    "Ad-policy findings in the creatives stored, by rule (superlative, all_caps, repeated_punctuation, "
    "click_here, foreign_number).",
    ["code"],
)
for _code in LINT_CODES:  # every rule has a series from the start, so a rate over it is never empty
    LINT_FINDINGS.labels(code=_code)


def prediction_observe(*, model_version: int, endpoint: str, items: int, seconds: float) -> None:
    PREDICTIONS.labels(model_version=str(model_version), endpoint=endpoint).inc(items)
    PREDICTION_LATENCY.labels(endpoint=endpoint).observe(seconds)
    BATCH_SIZE.observe(items)


def batch_observe(*, rows: int, queue_waits: list[float]) -> None:
    BATCH_ROWS.observe(rows)
    for seconds in queue_waits:
        BATCH_QUEUE_WAIT.observe(seconds)


def experiment_request_observe(
    *, model_name: str, model_version: int, arm: str, mode: str, seconds: float
) -> None:
    EXPERIMENT_REQUESTS.labels(
        model_name=model_name, model_version=str(model_version), arm=arm, mode=mode
    ).inc()
    EXPERIMENT_LATENCY.labels(model_version=str(model_version), arm=arm).observe(seconds)


def experiment_shadow_dropped() -> None:
    EXPERIMENT_SHADOW_DROPPED.inc()


def lint_findings_observe(found: Mapping[str, int]) -> None:
    for code, count in found.items():
        LINT_FINDINGS.labels(code=code).inc(count)


def model_load_observe(*, succeeded: bool) -> None:
    MODEL_LOADS.labels(result="success" if succeeded else "failure").inc()


def model_loaded_version_set(*, model_name: str, version: int) -> None:
    MODEL_LOADED_VERSION.labels(model_name=model_name).set(version)


def registry_gauges(now) -> Iterator[GaugeMetricFamily]:
    """Candidates waiting for approval, and the production version and its metrics per model name."""
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

    from registry.models import Experiment

    running = GaugeMetricFamily(
        "creativeops_experiment_running_percent",
        "The running experiment's share per model name and mode (shadow: requests also run on the "
        "challenger; canary: clients it answers); absent while none runs.",
        labels=["model_name", "mode", "challenger_version", "champion_version"],
    )
    for experiment in Experiment.objects.running().select_related("challenger", "champion"):
        running.add_metric(
            [
                experiment.model_name,
                experiment.mode,
                str(experiment.challenger.version),
                str(experiment.champion.version),
            ],
            experiment.percent,
        )
    yield running
