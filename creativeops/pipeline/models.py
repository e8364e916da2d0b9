"""One row per nightly (or manual) run of the chain of PipelineRun.STEPS."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PipelineRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run held the lock)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        API = "api", "API"
        DRIFT = "drift", "Drift"

    # Named for what they do: `verify_artifact` checks the trained files against their manifest and
    # the recorded checksum; `score_and_register` runs the gate (candidate and production scored on
    # the same rows) and registers the version with its decision. Rows store these names in `steps`
    # and `current_step` (migration 0004 renamed the old `evaluate` and `register`).
    STEPS = ("generate", "snapshot", "train", "verify_artifact", "score_and_register")

    model_name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(default=dict)
    steps = models.JSONField(default=dict, help_text="Per step: status, started_at, finished_at, error.")
    current_step = models.CharField(max_length=32, blank=True)
    dataset_version = models.ForeignKey(
        "products.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generated_products = models.PositiveIntegerField(default=0)
    gate_decision = models.CharField(max_length=16, blank=True)
    gate_reason = models.TextField(blank=True)
    skipped_because_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("start_pipelinerun", "Can start a pipeline run")]
        constraints = [
            # The pipeline lock: one queued or running run per registered model, held by the database.
            models.UniqueConstraint(
                fields=["model_name"],
                condition=models.Q(status__in=["queued", "running"]),
                name="pipeline_one_active_run_per_model",
            )
        ]

    def __str__(self) -> str:
        return f"Pipeline run #{self.pk} ({self.status})"
