"""Training runs in the admin: watch progress, read metrics and loss curves, cancel a run.

Runs are created by services (the pipeline, `manage.py train`, the API), never by hand here, so
the admin has no add, edit or delete; "Cancel run" calls the same service as every other interface.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from creativeops.core.admin import ReadOnlyAdminMixin
from creativeops.core.errors import ApplicationError
from training.charts import line_chart_svg
from training.models import TrainingRun
from training.selectors import training_run_loss_series, training_run_primary_metric
from training.services import training_run_cancel

STATUS_COLOURS = {
    TrainingRun.Status.QUEUED: "#6c757d",
    TrainingRun.Status.RUNNING: "#0b6bcb",
    TrainingRun.Status.SUCCEEDED: "#1a7f37",
    TrainingRun.Status.FAILED: "#c62828",
    TrainingRun.Status.CANCELLED: "#9a6700",
}
CANCEL_PERMISSION = "training.change_trainingrun"
PRIMARY_METRIC_LABEL = settings.CREATIVEOPS["PRIMARY_METRIC"].replace("_", "-").upper()
EPOCH_COLUMNS = ("train_loss", "val_loss", "val_perplexity", "learning_rate", "epoch_seconds", "steps")
QUALITY_METRICS = ("rouge_l", "fact_fidelity", "distinct_2")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def format_number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def status_badge(training_run: TrainingRun) -> str:
    return format_html(
        '<span class="training-status" style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        STATUS_COLOURS.get(training_run.status, "#6c757d"),
        training_run.get_status_display(),
    )


def progress_html(training_run: TrainingRun) -> str:
    """A `<progress>` bar with the percent and, while running, the time left (the step in a tooltip)."""
    percent = max(0.0, min(100.0, training_run.progress_percent or 0.0))
    steps = f"step {training_run.step} of {training_run.total_steps or '?'}"
    if training_run.status == TrainingRun.Status.QUEUED:
        detail = "queued"
    elif training_run.status == TrainingRun.Status.RUNNING and training_run.eta_seconds is not None:
        detail = f"{percent:.0f}% · ETA {format_duration(training_run.eta_seconds)}"
    else:
        detail = f"{percent:.0f}%"
    return format_html(
        '<span title="{}" style="white-space:nowrap"><progress value="{}" max="100" aria-label="{}" '
        'style="width:70px;vertical-align:middle"></progress> {}</span>',
        steps,
        f"{percent:.1f}",
        f"{percent:.0f}% done",
        detail,
    )


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "status_column",
        "progress_column",
        "dataset_version_column",
        "preset",
        "primary_metric_column",
        "duration_column",
        "created_at",
    )
    list_display_links = ("id",)
    list_filter = ("status", "preset", "trigger")
    list_select_related = ("dataset_version",)
    search_fields = ("=id", "mlflow_run_id", "worker", "celery_task_id")
    date_hierarchy = "created_at"
    actions = ["cancel_runs"]
    # Actions of the apps above training, which this admin cannot import (registry adds "Evaluate and
    # register"): (action, the permission a user needs to see it). See `add_action`.
    extra_actions: list[tuple[Callable, str]] = []
    list_per_page = 50
    fieldsets = (
        (
            "Run",
            {
                "fields": (
                    "status_column",
                    "progress_column",
                    "dataset_version_column",
                    "preset",
                    "trigger",
                    "triggered_by",
                    "worker",
                    "celery_task_id",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "duration_column",
                    "heartbeat_at",
                )
            },
        ),
        ("Error", {"fields": ("error_display",)}),
        ("Metrics", {"fields": ("metrics_table", "loss_chart", "epoch_history_table")}),
        (
            "Artifact and tracking",
            {"fields": ("artifact_uri", "artifact_sha256", "parameter_count", "mlflow_column")},
        ),
        ("Configuration", {"fields": ("hyperparameters_table",), "classes": ("collapse",)}),
    )
    # Nothing is editable: every field shown is read-only (the admin only reads and cancels).
    readonly_fields = tuple(name for _title, options in fieldsets for name in options["fields"])

    @classmethod
    def add_action(cls, action: Callable, *, permission: str) -> None:
        """Offer `action` (an admin action function) to users with `permission` ("app.codename")."""
        cls.extra_actions = [*cls.extra_actions, (action, permission)]

    def get_actions(self, request):
        actions = super().get_actions(request)
        for action, permission in self.extra_actions:
            if request.user.has_perm(permission):
                actions[action.__name__] = self.get_action(action)
        return actions

    # -- permissions: runs are made by services (ReadOnlyAdminMixin); the admin reads and cancels --

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    # -- columns -----------------------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_column(self, training_run: TrainingRun) -> str:
        return status_badge(training_run)

    @admin.display(description="Progress", ordering="progress_percent")
    def progress_column(self, training_run: TrainingRun) -> str:
        return progress_html(training_run)

    @admin.display(description="Dataset", ordering="dataset_version__number")
    def dataset_version_column(self, training_run: TrainingRun) -> str:
        version = training_run.dataset_version
        hint = (
            f"{version.product_count:,} products, {version.row_count:,} rows, sha256 {version.sha256[:12]}…"
        )
        try:
            url = reverse("admin:products_datasetversion_change", args=[version.pk])
        except NoReverseMatch:  # the products admin is not installed
            return format_html('<span title="{}">v{}</span>', hint, version.number)
        return format_html('<a href="{}" title="{}">v{}</a>', url, hint, version.number)

    @admin.display(description=PRIMARY_METRIC_LABEL)
    def primary_metric_column(self, training_run: TrainingRun) -> str:
        value = training_run_primary_metric(training_run)
        return "—" if value is None else f"{value:.4f}"

    @admin.display(description="Duration")
    def duration_column(self, training_run: TrainingRun) -> str:
        if training_run.status == TrainingRun.Status.RUNNING and training_run.started_at:
            running = (timezone.now() - training_run.started_at).total_seconds()
            return f"{format_duration(running)} so far"
        return format_duration(training_run.duration_seconds)

    @admin.display(description="MLflow run")
    def mlflow_column(self, training_run: TrainingRun) -> str:
        if training_run.mlflow_run_id:
            return format_html(
                '<code>{}</code> <span style="color:#666">(experiment {})</span>',
                training_run.mlflow_run_id,
                settings.MLFLOW_EXPERIMENT_NAME,
            )
        if training_run.status == TrainingRun.Status.SUCCEEDED:
            return "Not tracked (MLflow was unreachable during training; see the worker log)."
        return "—"

    @admin.display(description="Error")
    def error_display(self, training_run: TrainingRun) -> str:
        if not training_run.error:
            return "—"
        return format_html(
            '<pre style="white-space:pre-wrap;max-height:24em;overflow:auto;margin:0">{}</pre>',
            training_run.error,
        )

    @admin.display(description="Final metrics")
    def metrics_table(self, training_run: TrainingRun) -> str:
        metrics = training_run.metrics or {}
        if not metrics:
            return "No metrics yet."
        quality = [
            (name, metrics.get(name), metrics.get(f"baseline_{name}"))
            for name in QUALITY_METRICS
            if name in metrics
        ]
        other = sorted(
            (name, value)
            for name, value in metrics.items()
            if name not in QUALITY_METRICS and not name.startswith("baseline_")
        )
        quality_rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            ((name, format_number(model), format_number(baseline)) for name, model, baseline in quality),
        )
        other_rows = format_html_join(
            "", '<tr><th>{}</th><td colspan="2">{}</td></tr>', ((name, format_number(v)) for name, v in other)
        )
        return format_html(
            '<table class="training-metrics"><thead><tr><th>metric</th><th>model (test split)</th>'
            "<th>copy-the-title baseline</th></tr></thead><tbody>{}{}</tbody></table>",
            quality_rows,
            other_rows,
        )

    @admin.display(description="Loss per epoch")
    def loss_chart(self, training_run: TrainingRun) -> str:
        return line_chart_svg(
            training_run_loss_series(training_run),
            width=640,
            height=260,
            title=f"Training run #{training_run.pk}: loss per epoch",
            x_label="epoch",
        )

    @admin.display(description="Epochs")
    def epoch_history_table(self, training_run: TrainingRun) -> str:
        history = training_run.epoch_history or []
        if not history:
            return "No epoch finished yet."
        header = format_html_join("", "<th>{}</th>", ((column,) for column in ("epoch", *EPOCH_COLUMNS)))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        ((format_number(epoch.get(column)),) for column in ("epoch", *EPOCH_COLUMNS)),
                    ),
                )
                for epoch in history
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", header, rows)

    @admin.display(description="Hyperparameters")
    def hyperparameters_table(self, training_run: TrainingRun) -> str:
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            (
                (name, "—" if value is None else value)
                for name, value in sorted(training_run.hyperparameters.items())
            ),
        )
        return format_html("<table><tbody>{}</tbody></table>", rows) if rows else "Preset defaults."

    # -- detail page: a cancel button and auto-refresh while the run is active ------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        training_run = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "training_run_active": training_run is not None
            and training_run.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING),
            "can_cancel": self.has_cancel_permission(request),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # -- the action ----------------------------------------------------------------------------

    @admin.action(description="Cancel run", permissions=["cancel"])
    def cancel_runs(self, request, queryset):
        """Confirm first, then cancel each selected queued/running run through the service."""
        cancellable = queryset.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING])
        skipped = queryset.count() - cancellable.count()
        if request.POST.get("confirm") != "yes":
            if not cancellable.exists():
                self.message_user(
                    request, "None of the selected runs is queued or running.", messages.WARNING
                )
                return None
            context = {
                **self.admin_site.each_context(request),
                "title": "Cancel training runs?",
                "opts": self.model._meta,
                "runs": cancellable.select_related("dataset_version"),
                "skipped": skipped,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/training/trainingrun/cancel_confirmation.html", context)
        cancelled = []
        for training_run in cancellable:
            try:
                cancelled.append(training_run_cancel(training_run=training_run, actor=request.user).pk)
            except ApplicationError as error:  # finished between the confirmation and now
                self.message_user(request, error.message, messages.WARNING)
        if cancelled:
            ids = ", ".join(f"#{pk}" for pk in cancelled)
            self.message_user(
                request,
                f"Cancelled {len(cancelled)} run(s): {ids}. A running one stops at its next training step.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(request, f"{skipped} selected run(s) had already finished; left as they were.")
        return None
