"""The drift check's gauges on /metrics, read from the latest report at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from creativeops.monitoring.models import DriftReport


def drift_gauges(now) -> Iterator[GaugeMetricFamily]:
    """PSI per feature and the largest PSI of the latest drift report."""
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
