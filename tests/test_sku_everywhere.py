"""Any SKU a real catalog holds (`/`, spaces, `#`, `?`, `%`, dots, any Unicode) works everywhere a
SKU goes: import (CSV and JSON), the marketers' list and product pages and the links between them,
the catalog API, the admin and the admin's CSV export. What the catalog refuses (control and bidi
characters, surrounding spaces, more than 64 characters) is refused at import with a clear message."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from creativeops.core.converters import SkuConverter
from creativeops.core.spreadsheet import spreadsheet_cell
from creativeops.core.text import FORBIDDEN_CHARACTERS
from products.models import Product
from products.services import products_import
from registry.models import ModelVersion
from tests.factories.products import catalog_csv, catalog_json, catalog_row
from tests.pages.builders import make_catalog_creatives, make_model_version

pytestmark = pytest.mark.django_db

SKU_MAX = Product._meta.get_field("sku").max_length
# Everything the catalog accepts: any Unicode text but control and bidirectional-override characters,
# without surrounding whitespace, 1 to 64 characters.
skus = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=SKU_MAX)
    .map(str.strip)
    .filter(lambda sku: sku and not FORBIDDEN_CHARACTERS.search(sku))
)


@pytest.fixture
def clients(operator_user, marketer_user):
    operator, marketer, api = APIClient(), APIClient(), APIClient()
    operator.force_login(operator_user)
    marketer.force_login(marketer_user)
    api.force_authenticate(operator_user)
    return operator, marketer, api


@pytest.fixture
def production():
    return make_model_version(1, status=ModelVersion.Status.PRODUCTION)


def _import(content: bytes, filename: str):
    return products_import(file=io.BytesIO(content), filename=filename, actor=None)


@given(sku=skus)
@example(sku="OUTD/7/000001")
@example(sku="Tent 2P #3 ?size=L&colour=red 100%")
@example(sku="東京/👟 №1")
@example(sku=".")
@example(sku="..")
@example(sku="a/../b")
@example(sku="~2F~7E")
@example(sku="generate")
@example(sku="=HYPERLINK(1)")
@example(sku="'quoted")
@example(sku="'=")
@example(sku="back\\slash")
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_accepted_sku_works_across_import_pages_api_admin_and_export(sku, clients, production):
    operator, marketer, api = clients
    Product.objects.all().delete()  # examples share the test's transaction: one product at a time

    # Import, CSV then JSON (the second is an unchanged re-import of the same product).
    # The CSV cell holds the SKU as the export writes it: an import reads an apostrophe before a
    # formula character as the export's escape, so a SKU that itself starts "'=" is written "''=".
    csv_row = catalog_row(sku) | {"sku": spreadsheet_cell(sku)}
    assert _import(catalog_csv([csv_row]), "catalog.csv").errors == []
    json_report = _import(catalog_json([catalog_row(sku)]), "catalog.json")
    assert (json_report.errors, json_report.unchanged) == ([], 1)
    product = Product.objects.get(sku=sku)
    make_catalog_creatives(production, [product], tones=["bold"])

    # The marketers' list links to the product page, which shows the sku and can regenerate.
    product_url = reverse("creatives:product", kwargs={"sku": sku})
    listing = marketer.get("/creatives/")
    assert listing.status_code == 200
    assert escape(product_url) in listing.content.decode()
    page = marketer.get(product_url)
    assert page.status_code == 200
    assert escape(sku) in page.content.decode()
    assert escape(reverse("creatives:regenerate", kwargs={"sku": sku})) in page.content.decode()

    # The API, with the sku percent-encoded as a client would.
    detail = api.get("/api/v1/products/" + quote(sku, safe=""))
    assert detail.status_code == 200, detail.content
    assert detail.json()["sku"] == sku
    listed = api.get("/api/v1/products", {"search": sku})
    assert sku in [row["sku"] for row in listed.json()["results"]]

    # The admin: searched, opened, exported; the export imports back unchanged.
    changelist = operator.get("/admin/products/product/", {"q": sku})
    assert escape(sku) in changelist.content.decode()
    assert operator.get(f"/admin/products/product/{product.pk}/change/").status_code == 200
    exported = b"".join(operator.get("/admin/products/product/export/", {"q": sku}).streaming_content)
    exported_skus = {row["sku"] for row in csv.DictReader(io.StringIO(exported.decode()))}
    assert spreadsheet_cell(sku) in exported_skus
    assert _import(exported, "export.csv").errors == []
    assert Product.objects.get(sku=sku).pk == product.pk


@given(sku=skus)
def test_every_sku_has_one_url_segment_that_gives_it_back(sku):
    segment = SkuConverter().to_url(sku)

    assert "/" not in segment and segment not in (".", "..")
    assert SkuConverter().to_python(segment) == sku


@pytest.mark.parametrize(
    ("sku", "message"),
    [
        ("AB\x1bC", "sku contains a control character U+001B (ESC) at position 3; remove it."),
        (
            "AB\u202eC",
            "sku contains a bidirectional control character U+202E (Right-To-Left Override) at "
            "position 3; remove it.",
        ),  # fmt: skip
        ("S" * 65, "sku is 65 characters long; the limit is 64."),
    ],
)
def test_a_sku_the_catalog_cannot_hold_is_refused_at_import_with_a_clear_message(sku, message):
    report = _import(catalog_csv([catalog_row(sku)]), "catalog.csv")

    assert [(issue.field, issue.message) for issue in report.errors] == [("sku", message)]
    assert not Product.objects.exists()
