"""The live comparison page of an experiment: the registry's experiment admin, with what each arm wrote.

The registry's `ExperimentAdmin` (list, stop action) cannot read inference's samples (registry never
imports inference), so this app replaces it by a subclass whose change page shows, for a running or
finished experiment, requests, latency p50/p95, fact fidelity, limit compliance, policy-lint pass rate
and output length per arm (`experiment_comparison`), the side-by-side pairs of a shadow filterable by
category and tone, and the two decisions: "Promote challenger" and "Stop", each a POST with a reason
behind its own permission, through the same services as the CLI and the API.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from creativeops.core.errors import ApplicationError
from inference.models import ExperimentArm
from inference.services.experiment_samples import experiment_comparison
from products.models import Tone
from registry.admin import ExperimentAdmin
from registry.models import Experiment
from registry.services import experiment_stop, model_version_promote

if admin.site.is_registered(Experiment):
    admin.site.unregister(Experiment)


@admin.register(Experiment)
class ExperimentComparisonAdmin(ExperimentAdmin):
    change_form_template = "admin/registry/experiment/live_comparison.html"

    def get_urls(self):
        own = [
            path(
                "<int:experiment_id>/promote/",
                self.admin_site.admin_view(self.promote_view),
                name="registry_experiment_promote",
            ),
            path(
                "<int:experiment_id>/stop/",
                self.admin_site.admin_view(self.stop_view),
                name="registry_experiment_stop",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        if experiment is not None:
            page = request.GET.get("page", "1")
            comparison = experiment_comparison(
                experiment=experiment,
                category=request.GET.get("category") or None,
                tone=request.GET.get("tone") or None,
                page=int(page) if page.isdigit() else 1,
            )
            running = experiment.status == Experiment.Status.RUNNING
            extra_context = {
                **(extra_context or {}),
                "comparison": comparison,
                "arm_rows": _arm_rows(comparison),
                "tones": Tone.values,
                "can_promote": running and request.user.has_perm("registry.promote_modelversion"),
                "can_stop": running and request.user.has_perm("registry.stop_experiment"),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def promote_view(self, request, experiment_id: int):
        def promote(experiment: Experiment, reason: str) -> str:
            promoted = model_version_promote(version=experiment.challenger, actor=request.user, reason=reason)
            return f"{promoted.name} v{promoted.version} is in production; experiment #{experiment.pk} ended."

        return self._decide(request, experiment_id, "registry.promote_modelversion", promote)

    def stop_view(self, request, experiment_id: int):
        def stop(experiment: Experiment, reason: str) -> str:
            experiment_stop(name=experiment.model_name, reason=reason, actor=request.user)
            return f"Stopped experiment #{experiment.pk}; production is unchanged."

        return self._decide(request, experiment_id, "registry.stop_experiment", stop)

    def _decide(self, request, experiment_id: int, permission: str, apply):
        """A decision on a running experiment: POST only, behind `permission`; `apply(experiment, reason)`
        calls the service and says what it did; a refusal (no reason, not running) is shown on the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(permission):
            raise PermissionDenied
        experiment = get_object_or_404(Experiment.objects.select_related("challenger"), pk=experiment_id)
        if experiment.status != Experiment.Status.RUNNING:
            self.message_user(request, f"Experiment #{experiment.pk} is {experiment.status}.", messages.ERROR)
            return self._back(experiment)
        try:
            done = apply(experiment, request.POST.get("reason", ""))
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._back(experiment)

    def _back(self, experiment: Experiment) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:registry_experiment_change", args=[experiment.pk]))


ROWS = (
    ("version", "Model version", "v{}"),
    ("requests", "Requests", "{:,}"),
    ("items", "Items", "{:,}"),
    ("samples", "Items scored", "{:,}"),
    ("latency_p50_ms", "Latency p50 (ms)", "{:.1f}"),
    ("latency_p95_ms", "Latency p95 (ms)", "{:.1f}"),
    ("fact_fidelity", "Fact fidelity", "{:.3f}"),
    ("limit_compliance", "Limit compliance", "{:.3f}"),
    ("lint_pass_rate", "Policy-lint pass rate", "{:.3f}"),
    ("mean_length", "Mean output length (chars)", "{:.1f}"),
    ("dropped", "Shadow requests dropped (queue full)", "{:,}"),
)


def _arm_rows(comparison: dict) -> list[dict]:
    """The metric table, one row per metric, a cell per arm ("–" where an arm has nothing yet)."""
    arms = comparison["arms"]
    rows = []
    for key, label, shape in ROWS:
        cells = []
        for arm in (ExperimentArm.CHAMPION, ExperimentArm.CHALLENGER):
            value = arms[arm][key]
            cells.append("–" if value is None else shape.format(value))
        rows.append({"key": key, "label": label, "cells": cells})
    return rows
