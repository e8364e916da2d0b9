"""Read-only admin pages of what the production model wrote, and the catalog refresh with its progress.

Drift reports have their own admin in creativeops.monitoring (charts of the PSI per feature).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

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


@admin.register(Creative)
class CreativeAdmin(ReadOnlyAdmin):
    list_display = ["headline", "product", "tone", "model_version", "source", "created_at"]
    list_filter = ["tone", "source", "model_version__status"]
    list_select_related = ["product", "model_version"]
    search_fields = ["headline", "product__sku", "product__title"]
    raw_id_fields = ["product", "model_version"]
    date_hierarchy = "created_at"


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "endpoint", "model_version", "category", "tone", "price", "latency_ms"]
    list_filter = ["endpoint", "tone"]
    list_select_related = ["model_version"]
    date_hierarchy = "created_at"
