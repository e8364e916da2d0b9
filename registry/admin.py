"""The operator console: compare a candidate with production, then promote, roll back, reject, archive.

Every button is an admin action guarded by its own permission (`@admin.action(permissions=[...])`),
shows a confirmation page with a required reason, and calls the same service as the CLI and the API.
Versions and events are read-only here: they change only through those services.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from creativeops.core.admin import ReadOnlyAdminMixin
from creativeops.core.errors import ApplicationError
from registry import selectors
from registry.models import Experiment, ModelVersion, RegistryEvent
from registry.services import (
    NO_PRODUCTION,
    experiment_start,
    experiment_stop,
    model_version_archive,
    model_version_promote,
    model_version_register,
    model_version_reject,
    model_version_rollback,
)
from registry.services.experiments import DEFAULT_PERCENT
from registry.services.experiments import describe as describe_experiment
from training.admin import TrainingRunAdmin

STATUS_COLOURS = {
    ModelVersion.Status.PRODUCTION: "#1e7e34",
    ModelVersion.Status.CANDIDATE: "#1f5fa8",
    ModelVersion.Status.REJECTED: "#b02a37",
    ModelVersion.Status.ARCHIVED: "#6c757d",
}
ACTION_COLOURS = {
    RegistryEvent.Action.PROMOTE: "#1e7e34",
    RegistryEvent.Action.AUTO_PROMOTE: "#1e7e34",
    RegistryEvent.Action.OVERRIDE_PROMOTE: "#b35c00",
    RegistryEvent.Action.ROLLBACK: "#6f42c1",
    RegistryEvent.Action.REJECT: "#b02a37",
    RegistryEvent.Action.ARCHIVE: "#6c757d",
    RegistryEvent.Action.REGISTER: "#1f5fa8",
    RegistryEvent.Action.MLFLOW_SYNC: "#6c757d",
}
BADGE_STYLE = (
    "display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-weight:600;background:{}"
)


def status_badge(version: ModelVersion | None) -> str:
    if version is None:
        return "—"
    colour = STATUS_COLOURS.get(version.status, "#6c757d")
    return format_html(
        '<span class="registry-badge registry-badge-{}" style="{}">{}</span>',
        version.status,
        BADGE_STYLE.format(colour),
        version.get_status_display(),
    )


@dataclass(frozen=True)
class Operation:
    """One console operation: how its confirmation page reads and which service it calls."""

    action: str  # the admin action's name
    title: str
    button: str
    single: bool  # one version at a time (production changes) or a selection


PROMOTE = Operation("promote_action", "Approve and promote", "Yes, promote to production", single=True)
ROLLBACK = Operation("rollback_action", "Roll back to this version", "Yes, roll back", single=True)
REJECT = Operation("reject_action", "Reject", "Yes, reject", single=False)
ARCHIVE = Operation("archive_action", "Archive", "Yes, archive", single=False)
OPERATIONS = {operation.action: operation for operation in (PROMOTE, ROLLBACK, REJECT, ARCHIVE)}


# Read-only (ReadOnlyAdminMixin): versions and events change only through the registry services, which
# write the audit events; the operations below call those services.
@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "version_label",
        "status_display",
        "primary_metric_display",
        "change_display",
        "dataset_version_display",
        "gate_display",
        "created_at",
    )
    list_display_links = ("version_label",)
    list_filter = ("status", "name", "gate_passed", "mlflow_synced")
    search_fields = ("name", "gate_reason", "note")
    list_select_related = ("training_run__dataset_version",)
    ordering = ("name", "-version")
    actions = [
        "promote_action",
        "rollback_action",
        "reject_action",
        "archive_action",
        "start_experiment_action",
    ]
    change_form_template = "admin/registry/modelversion/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "version", "status_display", "gate_display", "gate_reason")}),
        (
            "Lineage",
            {
                "fields": (
                    "training_run_link",
                    "dataset_version_display",
                    "artifact_uri",
                    "artifact_sha256",
                    "metrics",
                )
            },
        ),
        ("Production", {"fields": ("promoted_at", "promoted_by", "note")}),
        ("MLflow mirror", {"fields": ("mlflow_version", "mlflow_synced", "pruned_at", "created_at")}),
    )
    readonly_fields = (
        "name",
        "version",
        "status_display",
        "gate_display",
        "gate_reason",
        "training_run_link",
        "dataset_version_display",
        "artifact_uri",
        "artifact_sha256",
        "metrics",
        "promoted_at",
        "promoted_by",
        "note",
        "mlflow_version",
        "mlflow_synced",
        "pruned_at",
        "created_at",
    )

    # --- columns ---------------------------------------------------------------------------------

    @admin.display(description="version", ordering="version")
    def version_label(self, version: ModelVersion) -> str:
        return f"v{version.version}"

    @admin.display(description="status", ordering="status")
    def status_display(self, version: ModelVersion) -> str:
        return status_badge(version)

    @admin.display(description=f"{settings.CREATIVEOPS['PRIMARY_METRIC']} (test)")
    def primary_metric_display(self, version: ModelVersion) -> str:
        value = selectors.gate_primary_metric(version, "test")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="± production")
    def change_display(self, version: ModelVersion) -> str:
        change = selectors.gate_change_against_production(version)
        if change is None:
            evaluation = version.evaluation or {}
            first = evaluation and evaluation.get("production_version") is None
            return "first model" if first and not evaluation.get("production_unavailable") else "—"
        delta, compared_with = change
        colour = "#1e7e34" if delta > 0 else ("#b02a37" if delta < 0 else "#555")
        return format_html('<span style="color:{}">{} vs v{}</span>', colour, f"{delta:+.3f}", compared_with)

    @admin.display(description="dataset")
    def dataset_version_display(self, version: ModelVersion) -> str:
        dataset = version.training_run.dataset_version
        return f"v{dataset.number}"

    @admin.display(description="gate", ordering="gate_passed")
    def gate_display(self, version: ModelVersion) -> str:
        colour, text = ("#1e7e34", "passed") if version.gate_passed else ("#b02a37", "rejected")
        return format_html(
            '<span style="color:{};font-weight:600" title="{}">{}</span>', colour, version.gate_reason, text
        )

    @admin.display(description="training run")
    def training_run_link(self, version: ModelVersion) -> str:
        try:
            url = reverse("admin:training_trainingrun_change", args=[version.training_run_id])
        except NoReverseMatch:  # the training admin is not registered
            return f"#{version.training_run_id}"
        return format_html('<a href="{}">#{}</a>', url, version.training_run_id)

    # --- detail page -------------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if version is not None:
            extra_context.update(self._detail_context(request, version))
        return super().change_view(request, object_id, form_url, extra_context)

    def _detail_context(self, request, version: ModelVersion) -> dict:
        from training.charts import line_chart_svg

        history = selectors.primary_metric_history(version.name)
        metric = settings.CREATIVEOPS["PRIMARY_METRIC"]
        series = {
            f"{metric} on the golden set": history["golden"],
            f"{metric} on its test split": history["test"],
        }
        chart = line_chart_svg(
            series,
            720,
            260,
            f"{metric} by version of {version.name}",
            x_label="version",
            x_start=history["versions"][0] if history["versions"] else 1,
        )
        return {
            "comparison": selectors.version_comparison(version),
            "history_chart": chart,
            "events": selectors.version_events(version)[:50],
            "available_operations": self._available_operations(request, version),
            "status_badge_html": status_badge(version),
            "changelist_url": reverse("admin:registry_modelversion_changelist"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }

    def _available_operations(self, request, version: ModelVersion) -> list[Operation]:
        """Buttons on the detail page: permitted for this user and sensible for this status."""
        status, Status = version.status, ModelVersion.Status
        sensible = {
            PROMOTE.action: status in (Status.CANDIDATE, Status.REJECTED),
            ROLLBACK.action: status != Status.PRODUCTION and selectors.was_in_production(version),
            REJECT.action: status == Status.CANDIDATE,
            ARCHIVE.action: status in (Status.CANDIDATE, Status.REJECTED),
        }
        permitted = self.get_actions(request)
        return [OPERATIONS[name] for name, ok in sensible.items() if ok and name in permitted]

    # --- permissions of the actions ----------------------------------------------------------------

    def has_promote_permission(self, request) -> bool:
        return request.user.has_perm("registry.promote_modelversion")

    def has_rollback_permission(self, request) -> bool:
        return request.user.has_perm("registry.rollback_modelversion")

    def has_reject_permission(self, request) -> bool:
        return request.user.has_perm("registry.reject_modelversion")

    def has_archive_permission(self, request) -> bool:
        return request.user.has_perm("registry.archive_modelversion")

    def has_override_gate_permission(self, request) -> bool:
        return request.user.has_perm("registry.override_gate_modelversion")

    def has_start_experiment_permission(self, request) -> bool:
        return request.user.has_perm("registry.start_experiment")

    # --- actions -----------------------------------------------------------------------------------

    @admin.action(permissions=["promote"], description="Approve and promote to production")
    def promote_action(self, request, queryset):
        def apply(version, reason, production_seen):
            force = request.POST.get("override_gate") == "on"
            promoted = model_version_promote(
                version=version,
                actor=request.user,
                reason=reason,
                force=force,
                expected_production=production_seen,
            )
            return f"Promoted {promoted.name} v{promoted.version} to production."

        return self._confirm_then_apply(request, queryset, PROMOTE, apply)

    @admin.action(permissions=["rollback"], description="Roll back to this version")
    def rollback_action(self, request, queryset):
        def apply(version, reason, production_seen):
            restored = model_version_rollback(
                name=version.name,
                to_version=version,
                actor=request.user,
                reason=reason,
                expected_production=production_seen,
            )
            return f"Rolled {restored.name} back to v{restored.version}; it is in production again."

        return self._confirm_then_apply(request, queryset, ROLLBACK, apply)

    @admin.action(permissions=["reject"], description="Reject")
    def reject_action(self, request, queryset):
        def apply(version, reason, production_seen):
            rejected = model_version_reject(version=version, actor=request.user, reason=reason)
            return f"Rejected {rejected.name} v{rejected.version}."

        return self._confirm_then_apply(request, queryset, REJECT, apply)

    @admin.action(permissions=["archive"], description="Archive")
    def archive_action(self, request, queryset):
        def apply(version, reason, production_seen):
            archived = model_version_archive(version=version, actor=request.user, reason=reason)
            return f"Archived {archived.name} v{archived.version}."

        return self._confirm_then_apply(request, queryset, ARCHIVE, apply)

    @admin.action(permissions=["start_experiment"], description="Start an experiment against production")
    def start_experiment_action(self, request, queryset):
        versions = list(queryset[:2])
        if len(versions) != 1:
            message = "Start an experiment: select exactly one candidate version."
            self.message_user(request, message, messages.ERROR)
            return None
        challenger = versions[0]
        production = selectors.production_version(challenger.name)
        running = selectors.running_experiment(challenger.name)
        summary = [
            f"Challenger: {challenger.name} v{challenger.version} ({challenger.get_status_display()}).",
            f"Champion (production now): v{production.version}." if production else "No production version.",
            f"Running now: {describe_experiment(running)}." if running else "No experiment is running.",
        ]

        def apply(reason: str) -> str:
            experiment = experiment_start(
                version=challenger,
                mode=request.POST.get("mode", ""),
                percent=_posted_percent(request),
                reason=reason,
                actor=request.user,
            )
            return f"Started experiment {describe_experiment(experiment)}."

        page = ExperimentPage(
            "start_experiment_action",
            f"Start an experiment: {challenger.name} v{challenger.version} against production",
            "Yes, start the experiment",
            summary,
            with_mode=True,
        )
        return experiment_confirm_then_apply(self, request, challenger.pk, page, apply)

    def _confirm_then_apply(self, request, queryset, operation: Operation, apply):
        """First POST: the confirmation page. Second POST (confirm=yes, with a reason): the service."""
        versions = list(queryset.select_related("training_run__dataset_version").order_by("name", "-version"))
        if operation.single and len(versions) != 1:
            message = f"{operation.title}: select exactly one version (you selected {len(versions)})."
            self.message_user(request, message, messages.ERROR)
            return None
        reason = (request.POST.get("reason") or "").strip()
        confirmed = request.POST.get("confirm") == "yes"
        if not confirmed or not reason:
            error = "Give a reason: it is kept in the audit trail." if confirmed else None
            return self._confirmation_page(request, versions, operation, error)
        production_seen = _expected_production(request)
        for version in versions:
            try:
                self.message_user(request, apply(version, reason, production_seen), messages.SUCCESS)
            except ApplicationError as failure:
                self.message_user(request, failure.message, messages.ERROR)
        return None

    def _confirmation_page(self, request, versions, operation: Operation, error: str | None):
        names = {version.name for version in versions}
        productions = {name: selectors.production_version(name) for name in names}
        single_production = productions[versions[0].name] if len(names) == 1 else None
        offers_override = (
            operation is PROMOTE
            and any(version.status == ModelVersion.Status.REJECTED for version in versions)
            and self.has_override_gate_permission(request)
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{operation.title}: are you sure?",
            "opts": self.model._meta,
            "operation": operation,
            "versions": [
                {
                    "version": version,
                    "badge": status_badge(version),
                    "production": productions[version.name],
                    "production_badge": status_badge(productions[version.name]),
                    "comparison": selectors.version_comparison(version),
                    "change": _change_text(selectors.gate_change_against_production(version)),
                }
                for version in versions
            ],
            "expected_production": (single_production.version if single_production else NO_PRODUCTION)
            if len(names) == 1
            else "",
            "offers_override": offers_override,
            "needs_override_permission": operation is PROMOTE
            and any(version.status == ModelVersion.Status.REJECTED for version in versions)
            and not offers_override,
            "reason": request.POST.get("reason", ""),
            "error": error,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "primary_metric": settings.CREATIVEOPS["PRIMARY_METRIC"],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/registry/modelversion/confirm_action.html", context)


def _change_text(change: tuple[float, int] | None) -> str | None:
    return None if change is None else f"{change[0]:+.3f} vs v{change[1]}"


def _expected_production(request) -> int | None:
    raw = request.POST.get("expected_production", "")
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class ExperimentPage:
    """The confirmation page of an experiment action (start on a version, stop on an experiment)."""

    action: str
    heading: str
    button: str
    summary: list[str]
    with_mode: bool = False


def experiment_confirm_then_apply(modeladmin, request, object_pk: int, page: ExperimentPage, apply):
    """First POST: the confirmation page. Second POST (confirm=yes, with a reason): `apply(reason)`."""
    reason = (request.POST.get("reason") or "").strip()
    confirmed = request.POST.get("confirm") == "yes"
    error = "Give a reason: it is kept in the audit trail." if confirmed and not reason else None
    if confirmed and reason:
        try:
            modeladmin.message_user(request, apply(reason), messages.SUCCESS)
            return None
        except ApplicationError as failure:
            error = failure.message
            if failure.field is None:  # nothing to correct on the page: back to the list with why
                modeladmin.message_user(request, error, messages.ERROR)
                return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{page.heading}: are you sure?",
        "opts": modeladmin.model._meta,
        "heading": page.heading,
        "summary": page.summary,
        "action": page.action,
        "button": page.button,
        "object_pk": object_pk,
        "modes": Experiment.Mode.choices if page.with_mode else None,
        "mode": request.POST.get("mode", Experiment.Mode.SHADOW),
        "percent": request.POST.get("percent", DEFAULT_PERCENT),
        "reason": reason,
        "error": error,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/registry/modelversion/confirm_experiment.html", context)


def _posted_percent(request) -> int | str | None:
    """The posted percent as a number; anything else goes to the service, which names the limit."""
    raw = request.POST.get("percent", "").strip()
    return int(raw) if raw.isdigit() else (raw or None)


@admin.register(Experiment)
class ExperimentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Experiments change only through registry.services.experiments: this list shows them and stops one."""

    list_display = (
        "model_name",
        "challenger_label",
        "champion_label",
        "mode",
        "percent",
        "status",
        "started_at",
        "started_by_label",
        "stopped_at",
        "stop_reason",
    )
    list_filter = ("status", "mode", "model_name")
    list_select_related = ("challenger", "champion")
    actions = ["stop_action"]
    readonly_fields = (
        "model_name",
        "challenger",
        "champion",
        "mode",
        "percent",
        "status",
        "reason",
        "started_by_label",
        "started_at",
        "stopped_by_label",
        "stopped_at",
        "stop_reason",
    )
    fields = readonly_fields

    @admin.display(description="challenger", ordering="challenger__version")
    def challenger_label(self, experiment: Experiment) -> str:
        return f"v{experiment.challenger.version}"

    @admin.display(description="champion", ordering="champion__version")
    def champion_label(self, experiment: Experiment) -> str:
        return f"v{experiment.champion.version}"

    def has_stop_permission(self, request) -> bool:
        return request.user.has_perm("registry.stop_experiment")

    @admin.action(permissions=["stop"], description="Stop the experiment")
    def stop_action(self, request, queryset):
        running = list(
            queryset.filter(status=Experiment.Status.RUNNING).select_related("challenger", "champion")
        )
        if len(running) != 1:
            self.message_user(request, "Stop: select exactly one running experiment.", messages.ERROR)
            return None
        experiment = running[0]

        def apply(reason: str) -> str:
            stopped = experiment_stop(name=experiment.model_name, reason=reason, actor=request.user)
            return f"Stopped experiment #{stopped.pk} of {stopped.model_name}; production is unchanged."

        page = ExperimentPage(
            "stop_action",
            f"Stop the experiment of {experiment.model_name}",
            "Yes, stop it",
            [f"{describe_experiment(experiment)}."],
        )
        return experiment_confirm_then_apply(self, request, experiment.pk, page, apply)


@admin.register(RegistryEvent)
class RegistryEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail: read-only for everyone, superusers included (the database refuses changes too)."""

    list_display = (
        "created_at",
        "model_name",
        "action_display",
        "actor_label",
        "from_label",
        "to_label",
        "reason_short",
    )
    list_filter = ("action", "model_name")
    search_fields = ("reason", "actor_label")
    date_hierarchy = "created_at"
    list_select_related = ("from_version", "to_version")
    fields = (
        "created_at",
        "model_name",
        "action",
        "actor",
        "actor_label",
        "from_version",
        "to_version",
        "reason",
        "metrics_snapshot",
    )
    readonly_fields = fields

    def get_actions(self, request):
        return {}

    @admin.display(description="action", ordering="action")
    def action_display(self, event: RegistryEvent) -> str:
        colour = ACTION_COLOURS.get(event.action, "#6c757d")
        label = event.get_action_display()
        return format_html('<span style="{}">{}</span>', BADGE_STYLE.format(colour), label)

    @admin.display(description="from")
    def from_label(self, event: RegistryEvent) -> str:
        return f"v{event.from_version.version}" if event.from_version else "—"

    @admin.display(description="to")
    def to_label(self, event: RegistryEvent) -> str:
        return f"v{event.to_version.version}" if event.to_version else "—"

    @admin.display(description="reason")
    def reason_short(self, event: RegistryEvent) -> str:
        return event.reason if len(event.reason) <= 120 else event.reason[:119] + "…"


# --- Training runs started by hand: "Evaluate and register" ----------------------------------------


def evaluate_and_register(modeladmin, request, queryset) -> None:
    """The pipeline's gate for runs started by hand (`manage.py train`, the API): candidate and
    production scored on the same rows, then a version `candidate` or `rejected` with the reason."""
    for training_run in queryset.order_by("pk"):
        try:
            version = model_version_register(training_run=training_run, actor=request.user)
        except ApplicationError as error:
            modeladmin.message_user(
                request, f"Training run #{training_run.pk}: {error.message}", messages.ERROR
            )
            continue
        decision = "passed the gate" if version.gate_passed else "was rejected by the gate"
        modeladmin.message_user(
            request,
            f"Training run #{training_run.pk} is {version.name} v{version.version} ({version.status}): "
            f"it {decision}. {version.gate_reason}",
            messages.SUCCESS if version.gate_passed else messages.WARNING,
        )


evaluate_and_register.short_description = "Evaluate and register (the gate, as the pipeline does)"
TrainingRunAdmin.add_action(evaluate_and_register, permission="registry.register_modelversion")
