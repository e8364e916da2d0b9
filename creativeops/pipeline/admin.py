from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from creativeops.core.admin import ReadOnlyAdminMixin
from creativeops.core.errors import ApplicationError
from creativeops.core.progress import eta_postfix
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.selectors import pipeline_run_progress
from creativeops.pipeline.services import DEFAULT_OPTIONS, pipeline_start

STATUS_COLORS = {
    "queued": "#6b7280",
    "running": "#2563eb",
    "succeeded": "#15803d",
    "failed": "#b91c1c",
    "skipped": "#a16207",
    "pending": "#9ca3af",
}


def status_badge(status: str) -> str:
    return format_html(
        '<span class="co-badge" style="background:{};color:#fff;padding:1px 8px;border-radius:9px">{}</span>',
        STATUS_COLORS.get(status, "#6b7280"),
        status,
    )


def _preset_choices() -> list[tuple[str, str]]:
    from training.ml import PRESETS

    return [(name, name) for name in PRESETS]


class RunPipelineForm(forms.Form):
    """The options an operator may set; the service checks them (limits, seeds) like every caller's."""

    preset = forms.ChoiceField(choices=_preset_choices, initial=DEFAULT_OPTIONS["preset"])
    new_products = forms.IntegerField(
        min_value=0, initial=500, help_text="Synthetic products to add to the catalog before the snapshot."
    )
    seed = forms.IntegerField(
        min_value=0, required=False, help_text="Seed of the generated products; empty picks a random one."
    )


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "status_badge",
        "trigger",
        "triggered_by",
        "steps_summary",
        "progress",
        "created_at",
        "duration",
    ]
    list_filter = ["status", "trigger", "model_name"]
    list_select_related = ["triggered_by", "training_run"]
    readonly_fields = [f.name for f in PipelineRun._meta.fields] + ["steps_table", "progress"]
    change_list_template = "admin/pipeline/pipelinerun/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "model_name",
                    "status",
                    "trigger",
                    "triggered_by",
                    "options",
                    "progress",
                    "steps_table",
                ]
            },
        ),
        ("Lineage", {"fields": ["dataset_version", "training_run", "model_version", "generated_products"]}),
        ("Decision", {"fields": ["gate_decision", "gate_reason", "skipped_because_of", "error"]}),
        ("Times", {"fields": ["created_at", "started_at", "finished_at", "lease_expires_at"]}),
    ]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run: PipelineRun) -> str:
        return status_badge(run.status)

    @admin.display(description="Steps")
    def steps_summary(self, run: PipelineRun) -> str:
        return format_html_join(
            " → ",
            "{}",
            ((status_badge(run.steps.get(step, {}).get("status", "pending")),) for step in run.STEPS),
        )

    @admin.display(description="Progress")
    def progress(self, run: PipelineRun) -> str:
        if run.status not in (PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING):
            return "—"
        progress = pipeline_run_progress(run)
        eta = progress.get("training_eta_seconds") if progress.get("training_status") == "running" else None
        return format_html(
            '<progress max="100" value="{}" aria-label="pipeline progress"></progress> {}% ({})',
            progress["percent"],
            round(progress["percent"]),
            eta_postfix(progress["step"] or "queued", eta, eta_label="training ETA"),
        )

    @admin.display(description="Steps")
    def steps_table(self, run: PipelineRun) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    step,
                    status_badge(state.get("status", "pending")),
                    state.get("started_at", ""),
                    state.get("finished_at", ""),
                    state.get("error", ""),
                )
                for step, state in ((step, run.steps.get(step, {})) for step in run.STEPS)
            ),
        )
        return format_html(
            "<table><tr><th>step</th><th>status</th><th>started</th><th>finished</th><th>error</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="Duration")
    def duration(self, run: PipelineRun) -> str:
        if run.started_at and run.finished_at:
            return f"{(run.finished_at - run.started_at).total_seconds():.0f} s"
        return "—"

    def get_urls(self):
        return [
            path(
                "run-now/", self.admin_site.admin_view(self.run_now_view), name="pipeline_pipelinerun_run_now"
            ),
            *super().get_urls(),
        ]

    def run_now_view(self, request):
        """'Run pipeline now': a confirmation form, then the same entry point beat and the CLI use."""
        if not request.user.has_perm("pipeline.start_pipelinerun"):
            raise PermissionDenied
        form = RunPipelineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = pipeline_start(
                    trigger=PipelineRun.Trigger.MANUAL,
                    actor=request.user,
                    options=form.cleaned_data,
                    # Without a broker the chain runs in this process: on a thread, so the page answers.
                    background=True,
                )
            except ApplicationError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                level = messages.WARNING if run.status == PipelineRun.Status.SKIPPED else messages.SUCCESS
                text = (
                    run.error
                    if run.status == PipelineRun.Status.SKIPPED
                    else f"Pipeline run #{run.pk} started."
                )
                self.message_user(request, text, level)
                return redirect(reverse("admin:pipeline_pipelinerun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Run the pipeline now",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pipeline/pipelinerun/run_now.html", context)
