"""Marketers' pages: thin views over `inference.selectors_pages` and `inference.services`.

Every page needs a login and `inference.view_creative`; "Regenerate" also needs `inference.add_creative`.
None of them needs `is_staff`: marketers are not admin users.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from creativeops.core.errors import ApplicationError
from inference import selectors_pages as selectors
from inference import services
from inference.pages.forms import AdExportForm, CreativeFilterForm, RegenerateForm
from inference.pages.previews import ad_previews
from inference.services.ad_exports import ad_export_build, csv_lines
from products.models import Product
from registry.selectors import production_version

PAGE_SIZE = 25
REGENERATED_SESSION_KEY = "creatives:regenerated"
NO_PRODUCTION_MESSAGE = (
    "No model is in production yet, so nothing can be regenerated: an operator must approve and "
    "promote a model first."
)
NO_EXPORT_VERSION_RESPONSE = (
    "No model is in production yet, so there are no creatives to export; choose an earlier "
    "model version with the 'version' filter.\n"
)
VIEW_CREATIVE = "inference.view_creative"
ADD_CREATIVE = "inference.add_creative"


def _filter_form(request) -> CreativeFilterForm:
    form = CreativeFilterForm(
        request.GET,
        categories=selectors.catalog_categories(),
        model_versions=selectors.model_versions_for_filter(),
    )
    form.is_valid()
    return form


def _listing(form: CreativeFilterForm):
    """The model version the rows come from (the chosen one, else production) and the rows."""
    if form.errors:
        return None, None
    model_version = form.chosen_version() or production_version()
    if model_version is None:
        return None, None
    return model_version, selectors.creative_list(model_version=model_version, filters=form.filters())


@login_required
@permission_required(VIEW_CREATIVE, raise_exception=True)
@require_GET
def creative_list(request):
    return _render_list(request, _filter_form(request), export_form=AdExportForm())


def _render_list(request, form: CreativeFilterForm, *, export_form: AdExportForm, status: int = 200):
    model_version, creatives = _listing(form)
    page_obj = paginator = page_range = None
    if creatives is not None:
        paginator = selectors.CappedPaginator(
            creatives, PAGE_SIZE, model_version=model_version, ids_at_once=bool(form.filters().search)
        )
        page_obj = paginator.get_page(request.GET.get("page"))
        page_range = list(paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1))
        services.creatives_attach_novelty(creatives=page_obj.object_list)
    context = {
        "form": form,
        "model_version": model_version,
        "page_obj": page_obj,
        "paginator": paginator,
        "page_range": page_range,
        "brands": selectors.catalog_brands(),
        "export_form": export_form,
        # The page's filters, carried by the ad export form so that it exports what the page lists.
        "export_filters": [
            (name, value) for name, value in request.GET.items() if name in CreativeFilterForm.base_fields
        ],
        "nav_section": "creatives",
    }
    return render(request, "creatives/list.html", context, status=400 if form.errors else status)


def _invalid_filters_response(form: CreativeFilterForm) -> HttpResponse:
    problems = "; ".join(
        f"{form.fields[name].label if name in form.fields else 'filters'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )
    return HttpResponse(
        f"Invalid filters: {problems}\n", status=400, content_type="text/plain; charset=utf-8"
    )


def _csv_download(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@permission_required(VIEW_CREATIVE, raise_exception=True)
@require_GET
def creative_export_csv(request):
    form = _filter_form(request)
    if form.errors:
        return _invalid_filters_response(form)
    model_version, creatives = _listing(form)
    if model_version is None:
        return HttpResponse(NO_EXPORT_VERSION_RESPONSE, status=409, content_type="text/plain; charset=utf-8")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return _csv_download(
        csv_lines(selectors.export_rows(creatives, model_version=model_version)),
        f"creatives-{model_version.name}-v{model_version.version}-{stamp}.csv",
    )


@login_required
@permission_required(VIEW_CREATIVE, raise_exception=True)
@require_GET
def creative_ad_export(request):
    """The asset sets of the products the page lists, as a file Google Ads Editor or Meta imports."""
    form = _filter_form(request)
    if form.errors:
        return _invalid_filters_response(form)
    export_form = AdExportForm(request.GET)
    if not export_form.is_valid():
        return _render_list(request, form, export_form=export_form, status=400)
    model_version, _ = _listing(form)
    if model_version is None:
        return HttpResponse(NO_EXPORT_VERSION_RESPONSE, status=409, content_type="text/plain; charset=utf-8")
    export = ad_export_build(
        platform=export_form.cleaned_data["platform"],
        model_version=model_version,
        filters=form.filters(),
        campaign=export_form.cleaned_data["campaign"],
        ad_group=export_form.cleaned_data["ad_group"],
    )
    return _csv_download(export.csv_lines(), export.filename)


def _render_product(request, product: Product, *, form: RegenerateForm, error: str = "", status: int = 200):
    production = production_version()
    regenerated_ids = request.session.pop(f"{REGENERATED_SESSION_KEY}:{product.sku}", [])
    current = selectors.product_current_creatives(product=product, model_version=production)
    history = selectors.product_history(product=product, exclude_version=production)
    regenerated = selectors.creatives_by_ids(product=product, ids=regenerated_ids) if regenerated_ids else []
    services.creatives_attach_novelty(
        creatives=[*current, *regenerated, *(creative for entry in history for creative in entry.creatives)]
    )
    context = {
        "product": product,
        "production": production,
        "ad_previews": ad_previews(
            product=product,
            asset_sets=selectors.product_asset_sets(product=product, model_version=production),
        ),
        "current": current,
        "history": history,
        "regenerated": regenerated,
        "can_regenerate": request.user.has_perm(ADD_CREATIVE),
        "form": form,
        "error": error,
        "no_production_message": NO_PRODUCTION_MESSAGE,
        "nav_section": "creatives",
    }
    return render(request, "creatives/product.html", context, status=status)


@login_required
@permission_required(VIEW_CREATIVE, raise_exception=True)
@require_GET
def product_detail(request, sku: str):
    product = get_object_or_404(Product, sku=sku)
    return _render_product(request, product, form=RegenerateForm())


@login_required
@permission_required([VIEW_CREATIVE, ADD_CREATIVE], raise_exception=True)
@require_POST
def product_regenerate(request, sku: str):
    product = get_object_or_404(Product, sku=sku)
    form = RegenerateForm(request.POST)
    if not form.is_valid():
        return _render_product(request, product, form=form, status=400)
    try:
        result = services.creatives_generate(
            items=[services.product_item(product)],
            tone=form.cleaned_data["tone"],
            num_variants=form.cleaned_data["num_variants"],
            max_new_tokens=services.generation_limits().default_new_tokens,
            endpoint="regenerate",
            products=[product],
            source="regenerate",
        )
    except ApplicationError as error:
        # The service speaks to operators ("run the pipeline"); a marketer needs to know who can help.
        message = NO_PRODUCTION_MESSAGE if production_version() is None else error.message
        return _render_product(request, product, form=form, error=message, status=error.status_code)
    created_ids = [creative.pk for creative in result.creatives]
    request.session[f"{REGENERATED_SESSION_KEY}:{product.sku}"] = created_ids
    messages.success(
        request,
        f"{len(created_ids)} new {form.cleaned_data['tone']} creative{'s' if len(created_ids) != 1 else ''} "
        f"written by {result.model_name} v{result.model_version}.",
    )
    return redirect(reverse("creatives:product", kwargs={"sku": product.sku}) + "#regenerated")
