"""Drift reports in the admin: a read-only list with a drift badge, and a detail page with the PSI per
feature and expected-versus-observed bar charts."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from creativeops.core.admin import ReadOnlyAdminMixin
from creativeops.monitoring.charts import bar_chart_svg
from creativeops.monitoring.models import DriftReport

BADGE = '<span class="co-badge" style="background:{};color:#fff;padding:1px 8px;border-radius:9px">{}</span>'


def drift_badge(report: DriftReport) -> SafeString:
    if report.max_psi is None:
        return format_html(BADGE, "#6b7280", "no PSI")
    if report.drifted:
        return format_html(BADGE, "#b91c1c", "drifted")
    return format_html(BADGE, "#15803d", "stable")


def _number(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "model_version",
        "dataset_version",
        "sample_size",
        "unlike_training_data",
        "max_psi_display",
        "drift_badge",
        "triggered_pipeline",
    ]
    list_filter = ["drifted", "triggered_pipeline", "model_version__name"]
    list_select_related = ["model_version", "dataset_version"]
    date_hierarchy = "created_at"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "drift_badge",
                    "max_psi_display",
                    "threshold",
                    "note",
                    "pipeline",
                    "model_version",
                    "dataset_version",
                    "window_start",
                    "window_end",
                    "sample_size",
                    "unlike_training_data",
                    "created_at",
                ]
            },
        ),
        ("PSI per feature", {"fields": ["psi_table"]}),
        ("Expected (training data) and observed (predictions) shares", {"fields": ["charts"]}),
    ]
    readonly_fields = [field.name for field in DriftReport._meta.fields] + [
        "drift_badge",
        "max_psi_display",
        "note",
        "pipeline",
        "psi_table",
        "charts",
    ]

    @admin.display(description="Drift", ordering="drifted")
    def drift_badge(self, report: DriftReport) -> SafeString:
        return drift_badge(report)

    @admin.display(description="Max PSI", ordering="max_psi")
    def max_psi_display(self, report: DriftReport) -> str:
        return _number(report.max_psi)

    @admin.display(description="Note")
    def note(self, report: DriftReport) -> str:
        return report.details.get("note") or "—"

    @admin.display(description="Pipeline")
    def pipeline(self, report: DriftReport) -> str:
        pipeline = report.details.get("pipeline")
        if pipeline:
            return pipeline.get("message", "")
        if report.max_psi is None:
            return "Not needed: no PSI was computed."
        return "Not needed: no feature passed the threshold."

    @admin.display(description="PSI per feature")
    def psi_table(self, report: DriftReport) -> SafeString:
        features = report.details.get("features") or []
        if not features:
            return mark_safe("<p>No PSI was computed for this report (see the note).</p>")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align:right'>{}</td><td>{}</td>"
            "<td style='text-align:right'>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    feature.get("label", feature.get("name")),
                    _number(feature.get("psi")),
                    _feature_badge(feature.get("psi"), report.threshold),
                    feature.get("observed_count", 0),
                    _summary_text(feature.get("expected_summary")),
                    _summary_text(feature.get("observed_summary")),
                    feature.get("note", ""),
                )
                for feature in features
            ),
        )
        return format_html(
            "<table><thead><tr><th>feature</th><th>PSI</th><th>vs threshold {}</th><th>inputs</th>"
            "<th>training mean / p50 / p95</th><th>observed mean / p50 / p95</th><th>note</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _number(report.threshold, 2),
            rows,
        )

    @admin.display(description="Charts")
    def charts(self, report: DriftReport) -> SafeString:
        charts = [
            bar_chart_svg(
                {
                    bucket["label"]: {"expected": bucket["expected"], "observed": bucket["observed"]}
                    for bucket in feature["buckets"]
                },  # fmt: skip
                title=f"{feature.get('label', feature.get('name'))} — PSI {_number(feature.get('psi'))}",
                y_label="share of inputs",
            )
            for feature in report.details.get("features") or []
            if feature.get("buckets")
        ]
        if not charts:
            return mark_safe("<p>No shares to draw for this report.</p>")
        return format_html_join("", '<div style="margin:0 0 12px">{}</div>', ((chart,) for chart in charts))


def _feature_badge(psi: float | None, threshold: float) -> SafeString:
    if psi is None:
        return format_html(BADGE, "#6b7280", "not computed")
    if psi > threshold:
        return format_html(BADGE, "#b91c1c", "above")
    return format_html(BADGE, "#15803d", "below")


def _summary_text(summary: dict | None) -> str:
    if not summary or summary.get("mean") is None:
        return "—"
    return " / ".join(_number(summary.get(key), 1) for key in ("mean", "p50", "p95"))
