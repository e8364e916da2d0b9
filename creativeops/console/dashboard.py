"""The operator dashboard on the admin index: one read across the registry, the pipeline, the schedule
and drift. It lives in the console (composition) because it reads apps no single app may import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.utils.time import remaining
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from creativeops.monitoring.models import DriftReport
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.schedule import NIGHTLY_PIPELINE, PERIODIC_TASKS
from registry import selectors as registry_selectors
from registry.models import ModelVersion
from training.charts import line_chart_svg

RECENT_RUNS = 10
NIGHTLY_TASK = PERIODIC_TASKS[NIGHTLY_PIPELINE][0]


@dataclass(frozen=True)
class CandidateRow:
    version: ModelVersion
    metric: float | None
    change: float | None
    """Candidate minus production on the primary metric, on the same test rows (None: not compared)."""
    compared_with: int | None
    compare_url: str | None


@dataclass(frozen=True)
class NextRun:
    task: PeriodicTask
    at: datetime | None
    schedule: str


@dataclass(frozen=True)
class DriftStatus:
    report: DriftReport | None
    threshold: float

    @property
    def drifted(self) -> bool:
        return bool(self.report and self.report.max_psi is not None and self.report.max_psi > self.threshold)


@dataclass(frozen=True)
class OperatorDashboard:
    model_name: str
    primary_metric: str
    production: ModelVersion | None
    production_metric: float | None
    recent_runs: list[PipelineRun]
    next_run: NextRun | None
    candidates: list[CandidateRow]
    chart_svg: str
    drift: DriftStatus


def operator_dashboard(*, model_name: str | None = None, now: datetime | None = None) -> OperatorDashboard:
    name = model_name or registry_selectors.default_model_name()
    now = now or timezone.now()
    production = registry_selectors.production_version(name)
    return OperatorDashboard(
        model_name=name,
        primary_metric=settings.CREATIVEOPS["PRIMARY_METRIC"],
        production=production,
        production_metric=registry_selectors.gate_primary_metric(production) if production else None,
        recent_runs=list(
            PipelineRun.objects.filter(model_name=name).order_by("-created_at", "-id")[:RECENT_RUNS]
        ),
        next_run=next_scheduled_run(now=now),
        candidates=candidate_rows(name=name),
        chart_svg=primary_metric_chart(name=name),
        drift=drift_status(),
    )


def candidate_rows(*, name: str) -> list[CandidateRow]:
    rows = []
    for version in ModelVersion.objects.candidates().for_name(name).order_by("-version"):
        change = registry_selectors.gate_change_against_production(version)
        rows.append(
            CandidateRow(
                version=version,
                metric=registry_selectors.gate_primary_metric(version),
                change=change[0] if change else None,
                compared_with=change[1] if change else None,
                compare_url=_compare_url(version),
            )
        )
    return rows


def _compare_url(version: ModelVersion) -> str | None:
    """The registry's page for a version, where it is compared side by side with production."""
    try:
        return reverse("admin:registry_modelversion_change", args=[version.pk])
    except NoReverseMatch:
        return None


def primary_metric_chart(*, name: str) -> str:
    """The primary metric of every version: on the golden set (comparable across versions) and on
    each version's own test split."""
    history = registry_selectors.primary_metric_history(name)
    metric = settings.CREATIVEOPS["PRIMARY_METRIC"]
    return line_chart_svg(
        {"golden set": history["golden"], "own test split": history["test"]},
        560,
        240,
        f"{metric} by model version",
        x_label="model version",
        x_start=history["versions"][0] if history["versions"] else 1,
    )


def next_scheduled_run(*, now: datetime) -> NextRun | None:
    """The soonest next firing of an enabled nightly-pipeline entry, from its crontab (or interval)."""
    entries = PeriodicTask.objects.filter(task=NIGHTLY_TASK, enabled=True).select_related(
        "crontab", "interval"
    )
    upcoming = [
        NextRun(task=entry, at=_next_fire(entry, now), schedule=_describe(entry)) for entry in entries
    ]
    upcoming = [entry for entry in upcoming if entry.at is not None]
    return min(upcoming, key=lambda entry: entry.at) if upcoming else None


def _next_fire(entry: PeriodicTask, now: datetime) -> datetime | None:
    if entry.one_off and entry.total_run_count:
        return None
    if entry.expires and entry.expires <= now:
        return None
    after = max(now, entry.start_time) if entry.start_time else now
    if entry.crontab is not None:
        # Celery's own arithmetic (it knows the crontab's timezone and DST), but from `after`, not
        # from the wall clock `remaining_estimate` would use.
        start, delta, _ = entry.crontab.schedule.remaining_delta(after)
        return _to_minute(after + remaining(start, delta, now=after))
    if entry.interval is not None:
        every = entry.interval.schedule.run_every
        if entry.last_run_at is None:
            return after
        return max(after, entry.last_run_at + every)
    return None


def _to_minute(moment: datetime) -> datetime:
    """Crontabs fire on whole minutes; the arithmetic can land a few microseconds short of one."""
    return (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)


def _describe(entry: PeriodicTask) -> str:
    if entry.crontab is not None:
        return entry.crontab.human_readable
    if entry.interval is not None:
        return str(entry.interval)
    return str(entry.scheduler)


def drift_status() -> DriftStatus:
    report = DriftReport.objects.order_by("-created_at", "-id").first()
    threshold = report.threshold if report else settings.CREATIVEOPS["DRIFT_PSI_THRESHOLD"]
    return DriftStatus(report=report, threshold=threshold)
