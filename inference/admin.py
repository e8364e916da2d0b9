"""Read-only admin pages of what the production model wrote (creatives, asset sets), and the catalog
refresh with its progress.

Drift reports have their own admin in creativeops.monitoring (charts of the PSI per feature).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from creativeops.core.admin import ReadOnlyAdminMixin
from inference import admin_experiments  # noqa: F401 (registers the experiment page over the registry's)
from inference.models import AssetSet, Creative, CreativeRefresh, PredictionLog


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


def _lint_count(findings: list[dict]) -> str:
    """The number of findings, their messages on hover."""
    if not findings:
        return "—"
    messages = "\n".join(finding["message"] for finding in findings)
    return format_html('<span title="{}">{}</span>', messages, len(findings))


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
        return _lint_count(creative.lint)

    @admin.display(description="Ad-policy findings")
    def lint_findings(self, creative: Creative) -> str:
        if not creative.lint:
            return "None: nothing here that ad platforms reject."
        return format_html_join(
            "\n",
            "<p><code>{}</code> in {}: {}</p>",
            ((finding["code"], finding["field"], finding["message"]) for finding in creative.lint),
        )


@admin.register(AssetSet)
class AssetSetAdmin(ReadOnlyAdmin):
    """The asset sets the refresh and the API wrote (`inference.services.asset_sets`)."""

    list_display = [
        "product",
        "channel",
        "model_version",
        "headline_count",
        "description_count",
        "problem_list",
        "lint_count",
        "created_at",
    ]
    list_filter = ["channel", "model_version__status", LintListFilter]
    list_select_related = ["product", "model_version"]
    search_fields = ["product__sku", "product__title"]
    raw_id_fields = ["product", "model_version"]
    date_hierarchy = "created_at"
    readonly_fields = ["asset_table", "lint_findings"]

    @admin.display(description="Headlines")
    def headline_count(self, asset_set: AssetSet) -> int:
        return len(asset_set.assets.get("headline", []))

    @admin.display(description="Descriptions / primary texts")
    def description_count(self, asset_set: AssetSet) -> int:
        assets = asset_set.assets
        return len(assets.get("description") or assets.get("primary_text") or [])

    @admin.display(description="Problems")
    def problem_list(self, asset_set: AssetSet) -> str:
        return "; ".join(asset_set.problems) or "Complete"

    @admin.display(description="Lint")
    def lint_count(self, asset_set: AssetSet) -> str:
        return _lint_count(asset_set.lint)

    @admin.display(description="Assets")
    def asset_table(self, asset_set: AssetSet) -> str:
        return format_html_join(
            "\n",
            "<p><strong>{}</strong>: {}</p>",
            ((name, " | ".join(values)) for name, values in asset_set.assets.items()),
        )

    @admin.display(description="Ad-policy findings")
    def lint_findings(self, asset_set: AssetSet) -> str:
        if not asset_set.lint:
            return "None: nothing here that ad platforms reject."
        return format_html_join(
            "\n",
            "<p><code>{}</code> in {} {}: {}</p>",
            (
                (finding["code"], finding["field"], finding.get("index", 0) + 1, finding["message"])
                for finding in asset_set.lint
            ),
        )


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "endpoint", "model_version", "category", "tone", "price", "latency_ms"]
    list_filter = ["endpoint", "tone"]
    list_select_related = ["model_version"]
    date_hierarchy = "created_at"
