"""Read-only admin pages of what the production model wrote, and the catalog refresh with its progress.

Drift reports have their own admin in creativeops.monitoring (charts of the PSI per feature).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from creativeops.core.admin import ReadOnlyAdminMixin
from inference.models import Creative, CreativeRefresh, PredictionLog


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows written by services only: the admin shows them, never edits them."""


@admin.register(CreativeRefresh)
class CreativeRefreshAdmin(ReadOnlyAdmin):
    list_display = ["model_version", "status", "progress_bar", "attempts", "started_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["model_version"]
    readonly_fields = [field.name for field in CreativeRefresh._meta.fields] + ["progress_bar"]

    @admin.display(description="Progress")
    def progress_bar(self, refresh: CreativeRefresh) -> str:
        return format_html(
            '<progress max="{}" value="{}" style="width:10em"></progress> {} / {} ({}%)',
            refresh.total or 1,
            refresh.done,
            refresh.done,
            refresh.total,
            refresh.progress_percent,
        )


class LintListFilter(admin.SimpleListFilter):
    title = "ad-policy lint"
    parameter_name = "lint"

    def lookups(self, request, model_admin):
        return [("findings", "With findings"), ("clean", "Clean")]

    def queryset(self, request, queryset):
        if self.value() == "findings":
            return queryset.exclude(lint=[])
        if self.value() == "clean":
            return queryset.filter(lint=[])
        return queryset


@admin.register(Creative)
class CreativeAdmin(ReadOnlyAdmin):
    list_display = ["headline", "product", "tone", "model_version", "source", "lint_count", "created_at"]
    list_filter = ["tone", "source", "model_version__status", LintListFilter]
    list_select_related = ["product", "model_version"]
    search_fields = ["headline", "product__sku", "product__title"]
    raw_id_fields = ["product", "model_version"]
    date_hierarchy = "created_at"
    readonly_fields = ["lint_findings"]

    @admin.display(description="Lint")
    def lint_count(self, creative: Creative) -> str:
        """The number of findings, their messages on hover."""
        if not creative.lint:
            return "—"
        messages = "\n".join(finding["message"] for finding in creative.lint)
        return format_html('<span title="{}">{}</span>', messages, len(creative.lint))

    @admin.display(description="Ad-policy findings")
    def lint_findings(self, creative: Creative) -> str:
        if not creative.lint:
            return "None: nothing here that ad platforms reject."
        return format_html_join(
            "\n",
            "<p><code>{}</code> in {}: {}</p>",
            ((finding["code"], finding["field"], finding["message"]) for finding in creative.lint),
        )


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "endpoint", "model_version", "category", "tone", "price", "latency_ms"]
    list_filter = ["endpoint", "tone"]
    list_select_related = ["model_version"]
    date_hierarchy = "created_at"
