"""Reads of training runs, for the admin, the `train` command, the pipeline and the registry."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from creativeops.core.errors import ApplicationError
from products.models import DatasetVersion
from training.models import TrainingRun

LOSS_SERIES = {"train loss": "train_loss", "validation loss": "val_loss"}


def training_run_get(*, training_run_id: int) -> TrainingRun:
    training_run = (
        TrainingRun.objects.select_related("dataset_version", "triggered_by")
        .filter(pk=training_run_id)
        .first()
    )
    if training_run is None:
        raise ApplicationError(f"Training run #{training_run_id} does not exist.", status_code=404)
    return training_run


def training_runs_list(
    *, status: str | None = None, dataset_version: DatasetVersion | None = None, preset: str | None = None
) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.select_related("dataset_version", "triggered_by")
    if status:
        runs = runs.filter(status=status)
    if dataset_version is not None:
        runs = runs.filter(dataset_version=dataset_version)
    if preset:
        runs = runs.filter(preset=preset)
    return runs


def training_run_latest_succeeded(*, dataset_version: DatasetVersion | None = None) -> TrainingRun | None:
    runs = training_runs_list(status=TrainingRun.Status.SUCCEEDED, dataset_version=dataset_version)
    return runs.order_by("-finished_at", "-pk").first()


def training_run_active() -> TrainingRun | None:
    """The run holding the training slot (the oldest running one), if any."""
    return TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).order_by("started_at").first()


def training_run_primary_metric(training_run: TrainingRun) -> float | None:
    value = (training_run.metrics or {}).get(settings.CREATIVEOPS["PRIMARY_METRIC"])
    return value if isinstance(value, int | float) else None


def training_run_loss_series(training_run: TrainingRun) -> dict[str, list[float | None]]:
    """Train and validation loss per epoch, as `training.charts.line_chart_svg` takes them."""
    history = training_run.epoch_history or []
    return {label: [epoch.get(key) for epoch in history] for label, key in LOSS_SERIES.items()}


def training_run_progress(training_run: TrainingRun) -> dict:
    """The progress fields a page or a polling command shows."""
    return {
        "id": training_run.pk,
        "status": training_run.status,
        "step": training_run.step,
        "total_steps": training_run.total_steps,
        "progress_percent": round(training_run.progress_percent, 1),
        "eta_seconds": training_run.eta_seconds,
        "epochs_done": len(training_run.epoch_history or []),
        "heartbeat_at": training_run.heartbeat_at,
    }
