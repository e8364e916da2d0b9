"""Training runs: one row per attempt to train a model on a dataset version."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TrainingRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING])


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        API = "api", "API"

    dataset_version = models.ForeignKey(
        "products.DatasetVersion", on_delete=models.PROTECT, related_name="training_runs"
    )
    preset = models.CharField(max_length=32, default="small")
    hyperparameters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)

    # Progress, written as the run goes (throttled), read by the admin and the pipeline page.
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    progress_percent = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker.")

    epoch_history = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    artifact_uri = models.CharField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    parameter_count = models.PositiveBigIntegerField(null=True, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({self.preset} on dataset v{self.dataset_version.number})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
