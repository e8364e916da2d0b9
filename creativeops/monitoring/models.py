"""Drift reports: the last window of prediction inputs against the production model's training data."""

from __future__ import annotations

from django.db import models


class DriftReport(models.Model):
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dataset_version = models.ForeignKey(
        "products.DatasetVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    sample_size = models.PositiveIntegerField()
    unlike_training_data = models.PositiveIntegerField(
        default=0,
        help_text="Predictions in the window whose category, brand or vocabulary the training data lacked.",
    )
    psi = models.JSONField(default=dict, help_text="Population stability index per feature.")
    details = models.JSONField(default=dict, help_text="Expected and observed bucket shares per feature.")
    max_psi = models.FloatField(null=True)
    threshold = models.FloatField()
    drifted = models.BooleanField(default=False)
    triggered_pipeline = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Drift report {self.created_at:%Y-%m-%d %H:%M} (max PSI {self.max_psi})"
