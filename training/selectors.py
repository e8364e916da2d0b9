"""Reads of training runs, for the admin and the training services."""

from __future__ import annotations

from django.conf import settings

from training.models import TrainingRun

LOSS_SERIES = {"train loss": "train_loss", "validation loss": "val_loss"}


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
