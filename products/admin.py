"""The catalog in the operator console: products (with import and CSV export) and dataset versions.

Import is two steps: upload → a preview of the first rows and of every error by line and field (a
dry run of the same service) → confirm, which runs the import for real on the file kept in artifact
storage under a random token held in the session. Dataset versions are read-only for everyone:
they are written once by the snapshot service and never changed.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import PurePath

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import connection, models
from django.http import FileResponse, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from creativeops.core.admin import ReadOnlyAdminMixin
from creativeops.core.errors import ApplicationError
from products.forms import CatalogImportConfirmForm, CatalogImportForm
from products.models import DatasetVersion, Product, ReferenceCreative, product_url_validator
from products.services import catalog_csv_lines, products_import
from products.services.import_uploads import import_upload_discard, import_upload_stage

PENDING_IMPORTS_SESSION_KEY = "products_pending_imports"
ESTIMATED_COUNT_ABOVE = 1_000_000


class CatalogPaginator(Paginator):
    """Counting stays cheap however large the catalog grows: an unfiltered changelist of a table past
    ESTIMATED_COUNT_ABOVE rows shows PostgreSQL's planner estimate instead of scanning every row.

    Always exactly one query, whatever the table size, so the page costs the same with 10 products
    as with 10 million.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor != "postgresql" or getattr(getattr(queryset, "query", None), "where", True):
            return super().count
        table = queryset.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint "
                f"ELSE (SELECT count(*) FROM {connection.ops.quote_name(table)}) END "
                "FROM pg_class WHERE oid = to_regclass(%s)",
                [ESTIMATED_COUNT_ABOVE, table],
            )
            return cursor.fetchone()[0]


class ReferenceCreativeInline(admin.TabularInline):
    model = ReferenceCreative
    extra = 0
    fields = ("channel", "tone", "headline", "body", "cta")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "title", "category", "brand", "price", "rating", "source")
    list_filter = ("category", "source")
    search_fields = ("sku", "title", "brand")
    list_select_related = False  # no foreign key is shown in the list
    show_full_result_count = False
    paginator = CatalogPaginator
    list_per_page = 100
    readonly_fields = ("created_at", "updated_at")
    # The form field checks a URL before the model's http/https validator does: one message for both.
    formfield_overrides = {
        models.URLField: {
            "assume_scheme": "https",
            "error_messages": {"invalid": product_url_validator.message},
        }
    }
    inlines = [ReferenceCreativeInline]
    actions = ["export_selected_csv"]

    # --- export -----------------------------------------------------------------------------

    @admin.action(description="Export selected as CSV (formula cells quoted)", permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset):
        return _csv_response(queryset.order_by("sku"), "selected")

    def export_view(self, request: HttpRequest):
        """Export what the changelist shows now: its filters, search and ordering, every page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return _csv_response(changelist.get_queryset(request), "filtered")

    # --- import -----------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="{}_{}_import".format(*info)),
            path(
                "import/confirm/",
                self.admin_site.admin_view(self.import_confirm_view),
                name="{}_{}_import_confirm".format(*info),
            ),
            path("export/", self.admin_site.admin_view(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest):
        """Step 1: upload; a readable file is kept under a token and its dry run shown as a preview."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = CatalogImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = products_import(file=upload, filename=upload.name, actor=request.user, dry_run=True)
            except ApplicationError as error:
                form.add_error("file", error.message)
            else:
                token, name = import_upload_stage(file=upload, filename=upload.name)
                pending = request.session.get(PENDING_IMPORTS_SESSION_KEY, {})
                pending[token] = {"name": name, "filename": upload.name}
                request.session[PENDING_IMPORTS_SESSION_KEY] = pending
                return self._render(
                    request,
                    "admin/products/product/import_preview.html",
                    "Preview catalog import",
                    report=report,
                    more_rows=max(report.rows - len(report.preview), 0),
                    confirm_form=CatalogImportConfirmForm(initial={"token": token}),
                )
        return self._render(
            request,
            "admin/products/product/import_form.html",
            "Import catalog",
            form=form,
            limit=settings.IMPORT_MAX_FILE_BYTES,
        )

    def import_confirm_view(self, request: HttpRequest):
        """Step 2: import the kept file for real (or discard it), then back to the changelist."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:products_product_changelist")
        form = CatalogImportConfirmForm(request.POST or None)
        pending = request.session.get(PENDING_IMPORTS_SESSION_KEY, {})
        if request.method != "POST" or not form.is_valid() or form.cleaned_data["token"] not in pending:
            self.message_user(
                request,
                "That import preview has expired or was already used; upload the file again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:products_product_import"))
        upload = pending.pop(form.cleaned_data["token"])
        request.session[PENDING_IMPORTS_SESSION_KEY] = pending
        try:
            if "cancel" in request.POST:
                self.message_user(request, f"Import of {upload['filename']} cancelled; nothing was stored.")
                return HttpResponseRedirect(changelist_url)
            with default_storage.open(upload["name"], "rb") as handle:
                report = products_import(file=handle, filename=upload["filename"], actor=request.user)
        except (ApplicationError, FileNotFoundError) as error:
            message = getattr(error, "message", f"The uploaded file is gone ({error}); upload it again.")
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:products_product_import"))
        finally:
            import_upload_discard(name=upload["name"])
        level = messages.WARNING if report.rejected_rows else messages.SUCCESS
        self.message_user(request, report.summary(), level)
        return HttpResponseRedirect(changelist_url)

    def _render(self, request: HttpRequest, template: str, title: str, **context):
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )


def _csv_response(queryset, label: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        catalog_csv_lines(products=queryset), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="catalog-{label}-{stamp}.csv"'
    return response


# --------------------------------------------------------------------------------------------
# Dataset versions: read-only
# --------------------------------------------------------------------------------------------


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "number", "kind", "product_count", "row_count", "split_display", "trigger", "created_by",
        "created_at", "download_link",
    )  # fmt: skip
    list_filter = ("kind", "trigger")
    list_select_related = ("created_by",)
    search_fields = ("note", "sha256")
    fieldsets = (
        (None, {"fields": ("number", "kind", "note", "trigger", "created_by", "created_at")}),
        ("File", {"fields": ("file", "download_link", "sha256", "size_bytes", "pruned_at")}),
        ("Contents", {"fields": ("product_count", "row_count", "split_display", "statistics_tables")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def get_urls(self):
        download = path(
            "<int:pk>/download/",
            self.admin_site.admin_view(self.download_view),
            name="products_datasetversion_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, pk: int):
        """Stream the Parquet file from artifact storage (it may be an S3 bucket: never a local path)."""
        if not request.user.has_perm("products.view_datasetversion"):
            raise PermissionDenied
        version = get_object_or_404(DatasetVersion, pk=pk)
        if not default_storage.exists(version.file):
            self.message_user(
                request,
                f"The file of dataset v{version.number} ({version.file}) is missing from storage.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:products_datasetversion_change", args=[pk]))
        return FileResponse(
            default_storage.open(version.file, "rb"),
            as_attachment=True,
            filename=PurePath(version.file).name,
            content_type="application/vnd.apache.parquet",
        )

    @admin.display(description="Split (products)")
    def split_display(self, version: DatasetVersion) -> str:
        counts = version.split_counts or {}
        return " / ".join(f"{counts.get(name, 0):,} {name}" for name in ("train", "validation", "test"))

    @admin.display(description="File")
    def download_link(self, version: DatasetVersion) -> str:
        if version.pruned_at:
            return "pruned"
        url = reverse("admin:products_datasetversion_download", args=[version.pk])
        return format_html('<a href="{}">download</a>', url)

    @admin.display(description="Statistics (drift baseline)")
    def statistics_tables(self, version: DatasetVersion) -> str:
        return mark_safe(  # noqa: S308 - rendered by a template, which escapes every value
            render_to_string(
                "admin/products/datasetversion/statistics.html",
                {"statistics": _statistics_view(version.statistics)},
            )
        )


def _statistics_view(statistics: dict) -> dict:
    """The stored statistics shaped for the template: percentages and labelled buckets."""

    def percent(share) -> str:
        return "—" if share is None else f"{share * 100:.1f}%"

    def bucket_rows(buckets) -> list[dict]:
        return [
            {
                "label": f"{bucket['lower']:g}+"
                if bucket["upper"] is None
                else f"{bucket['lower']:g}–{bucket['upper']:g}",
                "share": percent(bucket["share"]),
            }
            for bucket in buckets or []
        ]

    lengths = []
    for key, label in (
        ("title_length", "Title"),
        ("description_length", "Description"),
        ("headline_length", "Headline"),
    ):
        summary = statistics.get(key) or {}
        lengths.append(
            {
                "label": label,
                **{k: summary.get(k) for k in ("mean", "p50", "p95")},
                "buckets": bucket_rows(summary.get("buckets")),
            }
        )
    price = statistics.get("price") or {}
    return {
        "golden": statistics.get("golden"),
        "ood": statistics.get("ood"),
        "brand_count": statistics.get("brand_count"),
        "split_counts": statistics.get("split_counts") or {},
        "categories": [
            (name, percent(share)) for name, share in (statistics.get("category_shares") or {}).items()
        ],
        "tones": [(name, percent(share)) for name, share in (statistics.get("tone_shares") or {}).items()],
        "price_summary": {"mean": price.get("mean"), "min": price.get("min"), "max": price.get("max")},
        "price_quantiles": (price.get("quantiles") or {}).items(),
        "price_buckets": bucket_rows(price.get("buckets")),
        "rating": statistics.get("rating") or {},
        "lengths": lengths,
    }
