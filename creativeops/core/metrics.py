"""The `/metrics` payload: process metrics of every gunicorn worker plus gauges read from the database.

Process metrics (counters, histograms) are updated by the serving code. Under gunicorn every worker is
its own process, so with `PROMETHEUS_MULTIPROC_DIR` set prometheus_client writes them to memory-mapped
files and a scrape sums the files of all workers (`MultiProcessCollector`). Database gauges describe
shared state (pipeline runs, candidates, drift): each layer provides a function `gauges(now)` yielding
metric families, and the composition passes them here, so this module imports no app.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

GaugeSource = Callable[[datetime], Iterable[GaugeMetricFamily]]


class DatabaseCollector(Collector):
    """Gauges computed from the database at scrape time.

    A database that cannot be read does not break the scrape: the process metrics are still served
    and `creativeops_metrics_database_up` says 0.
    """

    def __init__(self, sources: Iterable[GaugeSource]):
        self.sources = tuple(sources)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "creativeops_metrics_database_up", "1 when the database metrics below could be read."
        )
        now = timezone.now()
        try:
            families = [family for source in self.sources for family in source(now)]
        except DatabaseError:
            logger.warning("/metrics: the database metrics could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


class _DefaultRegistryCollector(Collector):
    """The default registry's metrics (django-prometheus and ours) re-exported into a fresh registry."""

    def collect(self):
        return REGISTRY.collect()


def multiprocess_directory() -> str | None:
    # The lower-case name is prometheus_client's deprecated spelling, still honoured by MultiProcessCollector.
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None  # noqa: SIM112


def metrics_payload(database_gauges: Iterable[GaugeSource] = ()) -> tuple[bytes, str]:
    """The text exposition of every metric this deployment serves, and its content type.

    In multiprocess mode the process registry would show only the scraped worker's own counters, so
    the sums come from the shared directory instead; the database gauges are added either way.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_directory():
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    registry.register(DatabaseCollector(database_gauges))
    return generate_latest(registry), CONTENT_TYPE_LATEST
