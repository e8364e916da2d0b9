"""The pipeline's gauges on /metrics, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from creativeops.pipeline.models import PipelineRun

PIPELINE_WINDOW_DAYS = 7


def pipeline_gauges(now) -> Iterator[GaugeMetricFamily]:
    """Runs of the last days by status, and when the last successful run finished."""
    pipeline_run = PipelineRun
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
