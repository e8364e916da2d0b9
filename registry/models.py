"""Registered model versions and their append-only audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelVersionQuerySet(models.QuerySet):
    def production(self):
        return self.filter(status=ModelVersion.Status.PRODUCTION)

    def candidates(self):
        return self.filter(status=ModelVersion.Status.CANDIDATE)

    def for_name(self, name: str):
        return self.filter(name=name)


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate (awaiting approval)"
        REJECTED = "rejected", "Rejected"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=100, db_index=True)
    version = models.PositiveIntegerField()
    training_run = models.OneToOneField(
        "training.TrainingRun", on_delete=models.PROTECT, related_name="model_version"
    )
    metrics = models.JSONField(default=dict, help_text="The training run's own final metrics.")
    evaluation = models.JSONField(
        default=dict,
        help_text="The gate's comparison: candidate and production on the same test split and golden set.",
    )
    gate_passed = models.BooleanField(default=False)
    gate_reason = models.TextField(blank=True)
    artifact_uri = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    mlflow_version = models.CharField(
        max_length=32, blank=True, help_text="Version in MLflow's registry mirror."
    )
    mlflow_synced = models.BooleanField(default=False)
    pruned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique_number"),
            # The invariant the whole console rests on: at most one production version per name,
            # enforced by the database under concurrency, not by Python checks.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(status="production"), name="model_version_one_production"
            ),
        ]
        permissions = [
            ("promote_modelversion", "Can approve and promote a model version"),
            ("rollback_modelversion", "Can roll back to a model version"),
            ("reject_modelversion", "Can reject a model version"),
            ("archive_modelversion", "Can archive a model version"),
            ("override_gate_modelversion", "Can promote a version the gate rejected"),
            ("register_modelversion", "Can evaluate and register a training run (the gate)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    @property
    def primary_metric(self) -> float | None:
        return self.metrics.get(settings.CREATIVEOPS["PRIMARY_METRIC"])


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class RegistryEventQuerySet(models.QuerySet):
    """Bulk `update()` and `delete()` would skip `save()`/`delete()`; they are refused here too.

    On PostgreSQL a trigger (migration 0002) refuses UPDATE and DELETE for any client, raw SQL included.
    """

    def update(self, **kwargs):
        raise AppendOnlyError("Registry events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Registry events are append-only: they cannot be deleted.")

    def for_version(self, version: ModelVersion):
        return self.filter(models.Q(to_version=version) | models.Q(from_version=version))

    def production_changes(self):
        return self.filter(action__in=RegistryEvent.PRODUCTION_ACTIONS)


class RegistryEvent(models.Model):
    """Append-only: every register, reject, approve, promote, roll back and archive, with who and why."""

    class Action(models.TextChoices):
        REGISTER = "register", "Registered"
        REJECT = "reject", "Rejected"
        PROMOTE = "promote", "Promoted"
        AUTO_PROMOTE = "auto_promote", "Promoted by policy"
        OVERRIDE_PROMOTE = "override_promote", "Promoted over the gate"
        ROLLBACK = "rollback", "Rolled back"
        ARCHIVE = "archive", "Archived"
        MLFLOW_SYNC = "mlflow_sync", "Mirrored to MLflow"
        EXPERIMENT_START = "experiment_start", "Experiment started"
        EXPERIMENT_STOP = "experiment_stop", "Experiment stopped"
        EXPERIMENT_END = "experiment_end", "Experiment ended by a production change"
        EXPERIMENT_FAIL = "experiment_fail", "Experiment failed: the challenger could not be served"

    # Actions after which `to_version` is the production version.
    PRODUCTION_ACTIONS = (Action.PROMOTE, Action.AUTO_PROMOTE, Action.OVERRIDE_PROMOTE, Action.ROLLBACK)

    model_name = models.CharField(max_length=100, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, or 'system' for policy actions.")
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="events_from"
    )
    to_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="events_to"
    )
    reason = models.TextField()
    metrics_snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = RegistryEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.model_name}"

    def save(self, *args, **kwargs):
        # Any save with a primary key would be an UPDATE (Django tries UPDATE first for a set pk).
        if self.pk is not None:
            raise AppendOnlyError("Registry events are append-only: an existing event cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Registry events are append-only: they cannot be deleted.")


class ExperimentQuerySet(models.QuerySet):
    def running(self):
        return self.filter(status=Experiment.Status.RUNNING)

    def for_name(self, name: str):
        return self.filter(model_name=name)


class Experiment(models.Model):
    """A challenger run beside the production version (the champion) on live traffic.

    Changed only through registry.services.experiments, which writes a RegistryEvent for every start
    and end in the same transaction.
    """

    class Mode(models.TextChoices):
        SHADOW = "shadow", "Shadow (a sample of requests also runs on the challenger)"
        CANARY = "canary", "Canary (a share of clients is answered by the challenger)"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        PROMOTED = "promoted", "Challenger promoted"
        FAILED = "failed", "Failed"

    model_name = models.CharField(max_length=100, db_index=True)
    challenger = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="experiments_challenged"
    )
    champion = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="experiments_defended",
        help_text="The production version when the experiment started.",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    percent = models.PositiveSmallIntegerField(
        help_text="Shadow: share of requests also run on the challenger. Canary: share of clients it answers."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    reason = models.TextField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_by_label = models.CharField(max_length=150, help_text="Username, or who ran the command.")
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stopped_by_label = models.CharField(max_length=150, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One running experiment per model name, enforced by the database under parallel starts.
            models.UniqueConstraint(
                fields=["model_name"], condition=models.Q(status="running"), name="experiment_one_running"
            ),
            models.CheckConstraint(
                condition=models.Q(percent__gte=1, percent__lte=100), name="experiment_percent_range"
            ),
        ]
        permissions = [
            ("start_experiment", "Can start an experiment against production"),
            ("stop_experiment", "Can stop a running experiment"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: v{self.challenger.version} {self.mode} {self.percent}% ({self.status})"
