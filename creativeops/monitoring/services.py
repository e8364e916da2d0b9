"""Drift reports: the last window of prediction inputs against the production model's training data.

The hourly beat entry calls `drift_report_create`. The report stores the PSI per feature (the
`creativeops_drift_psi{feature}` gauge reads `psi`, `creativeops_drift_max_psi` reads `max_psi`) and the
expected and observed shares per bucket that the admin draws. When the largest PSI passes
`DRIFT_PSI_THRESHOLD` and `DRIFT_TRIGGERS_PIPELINE` is on, the report starts the pipeline through the one
entry point the schedule and the admin use — at most once per `PIPELINE_COOLDOWN`, since drift that
outlives one retraining would otherwise start a run every hour.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from creativeops.monitoring.drift import DEFAULT_EPSILON, ObservedInputs, compare
from creativeops.monitoring.models import DriftReport
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import pipeline_start
from inference.models import PredictionLog
from registry.models import ModelVersion
from registry.selectors import production_version

logger = logging.getLogger(__name__)

DETAILS_SCHEMA = 1
MIN_SAMPLE_SIZE = 50
DEFAULT_WINDOW = timedelta(hours=24)
PIPELINE_COOLDOWN = timedelta(hours=24)
TRIGGER_OFF_MESSAGE = "Not started: starting the pipeline on drift is off (setting DRIFT_TRIGGERS_PIPELINE)."


def drift_report_create(
    *, model_name: str | None = None, now: datetime | None = None, window: timedelta = DEFAULT_WINDOW
) -> DriftReport | None:
    """Compare the predictions of (now − window, now] with the production version's dataset version.

    Returns None when `model_name` has no production version (nothing serves, nothing to compare).
    With fewer than `MIN_SAMPLE_SIZE` predictions the report says so and computes no PSI: a handful
    of requests would swing it past any threshold.
    """
    if window <= timedelta(0):
        raise ApplicationError(f"The drift window must be longer than zero; got {window}.", field="window")
    name = model_name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    now = now or timezone.now()
    production = production_version(name)
    if production is None:
        logger.info("Drift report skipped: %s has no production version", name)
        return None
    dataset_version = production.training_run.dataset_version
    observed = observed_inputs(model_name=name, start=now - window, end=now)
    report = DriftReport(
        model_version=production,
        dataset_version=dataset_version,
        window_start=now - window,
        window_end=now,
        sample_size=observed.sample_size,
        unlike_training_data=observed.unseen["any"],
        threshold=float(settings.CREATIVEOPS["DRIFT_PSI_THRESHOLD"]),
        details={**_details_base(production, dataset_version), "unlike_training_data": dict(observed.unseen)},
    )
    if observed.sample_size < MIN_SAMPLE_SIZE:
        report.details["note"] = (
            f"Not enough predictions: {observed.sample_size} in the window, at least {MIN_SAMPLE_SIZE} "
            "are needed before the PSI means anything. No PSI was computed."
        )
        report.save()
        return report
    if not dataset_version.statistics:
        report.details["note"] = (
            f"Dataset version v{dataset_version.number} has no statistics to compare with. "
            "No PSI was computed."
        )
        report.save()
        return report

    features = compare(dataset_version.statistics, observed, epsilon=DEFAULT_EPSILON)
    report.details["features"] = [feature.as_json() for feature in features]
    report.psi = {feature.name: feature.psi for feature in features if feature.psi is not None}
    report.max_psi = max(report.psi.values(), default=None)
    report.drifted = report.max_psi is not None and report.max_psi > report.threshold
    with transaction.atomic():
        if report.drifted:
            logger.warning(
                "Input drift on %s v%s: max PSI %.4f > %.4f (%s)",
                name, production.version, report.max_psi, report.threshold, report.psi,
            )  # fmt: skip
            if settings.CREATIVEOPS["DRIFT_TRIGGERS_PIPELINE"]:
                _pipeline_trigger(report, model_name=name, now=now)
            else:
                report.details["pipeline"] = {"run": None, "started": False, "message": TRIGGER_OFF_MESSAGE}
        report.save()
    return report


def _details_base(production: ModelVersion, dataset_version) -> dict:
    return {
        "schema": DETAILS_SCHEMA,
        "model": f"{production.name} v{production.version}",
        "dataset_version": dataset_version.number,
        "min_sample_size": MIN_SAMPLE_SIZE,
        "epsilon": DEFAULT_EPSILON,
        "features": [],
        "note": "",
    }


def _pipeline_trigger(report: DriftReport, *, model_name: str, now: datetime) -> None:
    """Start the pipeline for the drift unless drift already started one within the cooldown."""
    recent = (
        PipelineRun.objects.filter(
            model_name=model_name, trigger=PipelineRun.Trigger.DRIFT, created_at__gt=now - PIPELINE_COOLDOWN
        )
        .exclude(status=PipelineRun.Status.SKIPPED)
        .order_by("-created_at")
        .first()
    )
    if recent is not None:
        report.details["pipeline"] = {
            "run": recent.pk,
            "started": False,
            "message": (
                f"Not started: drift already started pipeline run #{recent.pk} at "
                f"{recent.created_at:%Y-%m-%d %H:%M} UTC; drift starts at most one run per "
                f"{PIPELINE_COOLDOWN.total_seconds() / 3600:g} h."
            ),
        }
        return
    run = pipeline_start(trigger=PipelineRun.Trigger.DRIFT, model_name=model_name)
    started = run.status != PipelineRun.Status.SKIPPED
    report.triggered_pipeline = started
    report.details["pipeline"] = {
        "run": run.pk,
        "started": started,
        "message": f"Started pipeline run #{run.pk}." if started else run.error,
    }


def observed_inputs(*, model_name: str, start: datetime, end: datetime) -> ObservedInputs:
    """The window's prediction inputs as value counts: the database groups, Python only buckets."""
    logs = PredictionLog.objects.filter(
        model_version__name=model_name, created_at__gt=start, created_at__lte=end
    ).order_by()
    counts = logs.aggregate(
        sample_size=Count("id"),
        any=Count("id", filter=Q(unseen_category=True) | Q(unseen_brand=True) | Q(unseen_vocabulary=True)),
        category=Count("id", filter=Q(unseen_category=True)),
        brand=Count("id", filter=Q(unseen_brand=True)),
        vocabulary=Count("id", filter=Q(unseen_vocabulary=True)),
    )
    sample_size = counts.pop("sample_size")
    return ObservedInputs(
        sample_size=sample_size,
        unseen=counts,
        category=_value_counts(logs.exclude(category=""), "category"),
        price={
            float(price): count for price, count in _value_counts(logs.exclude(price=None), "price").items()
        },
        title_length=_value_counts(logs, "title_length"),
        description_length=_value_counts(logs, "description_length"),
    )


def _value_counts(logs: QuerySet, field: str) -> dict:
    return dict(logs.values_list(field).annotate(count=Count("id")).values_list(field, "count"))
