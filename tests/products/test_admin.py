"""The catalog admin: import preview → confirm, CSV export, changelist query count, dataset versions."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from products.admin import PENDING_IMPORTS_SESSION_KEY
from products.models import DatasetVersion, Product, ReferenceCreative
from products.services import dataset_version_create, product_bulk_upsert_generated, products_import
from tests.factories.products import ProductFactory, ReferenceCreativeFactory, catalog_csv, catalog_row

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"
IMPORT_URL = "/admin/products/product/import/"
CONFIRM_URL = "/admin/products/product/import/confirm/"


@pytest.fixture
def operator_client(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def viewer_client(client):
    """A staff user who may only view products (the marketers' permissions, admin access)."""
    from tests.factories.users import make_user

    client.force_login(make_user("catalog-viewer", groups=["marketers"], is_staff=True))
    return client


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def pending_uploads(client) -> dict:
    return client.session.get(PENDING_IMPORTS_SESSION_KEY, {})


# --------------------------------------------------------------------------------------------
# Import: upload → preview → confirm
# --------------------------------------------------------------------------------------------


def test_changelist_offers_import_and_export(operator_client):
    response = operator_client.get(CHANGELIST)

    assert response.status_code == 200
    assert IMPORT_URL.encode() in response.content
    assert b"/admin/products/product/export/" in response.content


def test_import_preview_lists_rows_and_every_error_then_confirm_stores_the_good_rows(operator_client):
    content = catalog_csv([catalog_row("ADM-1"), catalog_row("ADM-2", price="-3"), catalog_row("ADM-3")])

    preview = operator_client.post(IMPORT_URL, {"file": upload("shop.csv", content)})

    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Preview catalog import" in html
    assert re.search(r"<td>3</td><td>ADM-2</td>", html)
    assert "price must be greater than 0; got -3." in html
    assert re.search(r"<td>line 3</td><td>price</td>", html)
    report = preview.context["report"]
    assert (report.rows, report.rejected_rows, report.created, report.dry_run) == (3, 1, 2, True)
    assert Product.objects.count() == 0
    ((token, staged),) = pending_uploads(operator_client).items()
    assert default_storage.exists(staged["name"])

    confirmed = operator_client.post(CONFIRM_URL, {"token": token, "confirm": "Import"})

    assert confirmed.status_code == 302 and confirmed["Location"] == CHANGELIST
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["ADM-1", "ADM-3"]
    assert ReferenceCreative.objects.count() == 2
    assert messages_of(confirmed) == [
        "shop.csv: 3 rows read, 1 rejected. Products were created: 2, updated: 0, unchanged: 0."
    ]
    assert not default_storage.exists(staged["name"])
    assert pending_uploads(operator_client) == {}


def test_a_used_token_cannot_import_twice(operator_client):
    operator_client.post(IMPORT_URL, {"file": upload("shop.csv", catalog_csv([catalog_row("ONCE")]))})
    ((token, _),) = pending_uploads(operator_client).items()
    operator_client.post(CONFIRM_URL, {"token": token})
    Product.objects.all().delete()

    again = operator_client.post(CONFIRM_URL, {"token": token})

    assert again["Location"] == IMPORT_URL
    assert (
        messages_of(again)[-1]
        == "That import preview has expired or was already used; upload the file again."
    )
    assert Product.objects.count() == 0


def test_cancel_discards_the_upload(operator_client):
    operator_client.post(IMPORT_URL, {"file": upload("shop.csv", catalog_csv([catalog_row("NO")]))})
    ((token, staged),) = pending_uploads(operator_client).items()

    response = operator_client.post(CONFIRM_URL, {"token": token, "cancel": "Cancel"})

    assert response["Location"] == CHANGELIST
    assert Product.objects.count() == 0
    assert not default_storage.exists(staged["name"])
    assert messages_of(response) == ["Import of shop.csv cancelled; nothing was stored."]


def test_an_unreadable_file_is_shown_on_the_form_and_not_kept(operator_client):
    content = catalog_csv([catalog_row()], header=["sku", "title"])

    response = operator_client.post(IMPORT_URL, {"file": upload("shop.csv", content)})

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "shop.csv is missing required columns: category, brand, description, price, rating. The header "
        "needs sku, title, category, brand, description, price, rating; url, channel, tone, headline, body, "
        "cta are optional."
    ]
    assert pending_uploads(operator_client) == {}


def test_a_file_over_the_limit_is_refused_by_the_form(operator_client, settings):
    settings.IMPORT_MAX_FILE_BYTES = 50

    response = operator_client.post(IMPORT_URL, {"file": upload("big.csv", b"x" * 51)})

    assert response.context["form"].errors["file"] == [
        "big.csv is 51 bytes; the import limit is 50 bytes (IMPORT_MAX_FILE_BYTES). "
        "Split the catalog into smaller files."
    ]


def test_import_needs_add_and_change_permission(viewer_client):
    assert viewer_client.get(IMPORT_URL).status_code == 403
    assert viewer_client.post(CONFIRM_URL, {"token": "x"}).status_code == 403
    changelist = viewer_client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert IMPORT_URL.encode() not in changelist.content


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def streamed(response) -> bytes:
    return b"".join(part if isinstance(part, bytes) else part.encode() for part in response.streaming_content)


def test_export_selected_is_the_import_format(operator_client):
    chosen = [ProductFactory(sku="EX-1"), ProductFactory(sku="EX-2", creatives=[])]
    ProductFactory(sku="EX-3")

    response = operator_client.post(
        CHANGELIST, {"action": "export_selected_csv", "_selected_action": [product.pk for product in chosen]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="catalog-selected-')
    lines = streamed(response).decode().splitlines()
    assert lines[0] == "sku,title,category,brand,description,price,rating,url,channel,tone,headline,body,cta"
    assert [line.split(",")[0] for line in lines[1:]] == ["EX-1"] * 4 + ["EX-2"]
    assert [line.split(",")[-5:-3] for line in lines[1:5]] == [
        ["generic", tone] for tone in ("bold", "luxury", "playful", "value")
    ]
    assert lines[-1].startswith("EX-2,Northwind Trail 2-Person Tent No. ")
    assert lines[-1].endswith(
        ",Outdoor,Northwind Trail,Northwind Trail builds this tent from ripstop nylon with room "
        "for 2 people.,249.99,4.5,,,,,,"
    )


def test_export_of_the_current_filter_and_search(operator_client):
    ProductFactory(sku="F-1", category="Beauty", title="Face serum", creatives=[])
    ProductFactory(sku="F-2", category="Beauty", title="Hand cream", creatives=[])
    ProductFactory(sku="F-3", category="Outdoor", title="Face mask for hikes", creatives=[])

    response = operator_client.get("/admin/products/product/export/", {"category": "Beauty", "q": "face"})

    assert response["Content-Disposition"].startswith('attachment; filename="catalog-filtered-')
    rows = streamed(response).decode().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["F-1"]


def test_exported_catalog_imports_back_unchanged(operator_client):
    ProductFactory(sku="RT-1", description='Says "hello", then\na new line')
    ProductFactory(sku="RT-2", creatives=["value"])
    ProductFactory(sku="RT-3", title='=HYPERLINK("http://evil")', brand="'quoted", creatives=[])
    exported = streamed(operator_client.get("/admin/products/product/export/"))

    report = products_import(file=io.BytesIO(exported), filename="export.csv", actor=None)

    assert (report.rejected_rows, report.unchanged, report.created, report.updated) == (0, 3, 0, 0)


def test_export_quotes_cells_a_spreadsheet_would_run_as_formulas(operator_client):
    ProductFactory(
        sku="@SUM(A1)",
        title='=HYPERLINK("http://evil","click")',
        brand="+cmd|' /C calc'!A0",
        description="-2+3",
        creatives=[],
    )
    ProductFactory(sku="SAFE-1", title="Tent = shelter", creatives=[])

    rows = list(
        csv.DictReader(io.StringIO(streamed(operator_client.get("/admin/products/product/export/")).decode()))
    )

    formula, safe = rows
    assert (formula["sku"], formula["title"], formula["brand"], formula["description"]) == (
        "'@SUM(A1)",
        '\'=HYPERLINK("http://evil","click")',
        "'+cmd|' /C calc'!A0",
        "'-2+3",
    )
    assert safe["title"] == "Tent = shelter"  # only a leading character makes a formula


def test_the_export_says_that_it_quotes_formula_cells(operator_client):
    changelist = operator_client.get(CHANGELIST).content.decode()

    assert "leading apostrophe so that spreadsheets show it as text" in changelist


def test_admin_import_of_deeply_nested_json_names_the_limit(operator_client):
    nested = b"[" * 5_000 + b"]" * 5_000

    response = operator_client.post(IMPORT_URL, {"file": upload("deep.json", nested)})

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "deep.json is not read: JSON arrays and objects are nested more than 32 levels deep; the limit is 32."
    ]


def test_admin_import_with_an_oversized_csv_cell_previews_that_row_as_rejected(operator_client):
    content = catalog_csv([catalog_row("OK-1"), catalog_row("HUGE-1", title="t" * 140_000)])

    response = operator_client.post(IMPORT_URL, {"file": upload("big-cell.csv", content)})

    report = response.context["report"]
    assert (report.rows, report.rejected_rows, report.created) == (2, 1, 1)
    assert [str(issue) for issue in report.errors] == [
        "line 3, title: title is 140,000 characters long; the limit for a cell is 131,072."
    ]


# --------------------------------------------------------------------------------------------
# Changelist cost does not grow with the catalog
# --------------------------------------------------------------------------------------------


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("params", [{}, {"category": "Office"}, {"q": "OFFC"}, {"source": "generated"}])
def test_changelist_issues_the_same_queries_with_10_or_200_products(
    admin_client, django_assert_num_queries, params
):
    product_bulk_upsert_generated(count=10, seed=3)
    with CaptureQueriesContext(connection) as small:
        assert admin_client.get(CHANGELIST, params).status_code == 200

    product_bulk_upsert_generated(count=200, seed=3)

    with django_assert_num_queries(len(small)) as large:
        response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    # show_full_result_count = False: a filtered page counts its own rows only, never the whole table.
    counts = [query["sql"] for query in large.captured_queries if "COUNT(" in query["sql"].upper()]
    assert len(counts) == 1


def test_product_change_page_shows_the_creatives_inline(operator_client):
    product = ProductFactory(sku="INL-1", creatives=["bold", "luxury"])

    response = operator_client.get(f"/admin/products/product/{product.pk}/change/")

    assert response.status_code == 200
    assert b"Reference creatives" in response.content
    assert b'value="Meet the Northwind Trail tent (bold)"' in response.content
    assert b'value="Meet the Northwind Trail tent (luxury)"' in response.content


def test_product_change_page_shows_each_creatives_channel(operator_client):
    product = ProductFactory(sku="INL-2", creatives=["bold"])
    ReferenceCreativeFactory(product=product, tone="bold", channel="google_search", headline="Tent, $249.99")

    response = operator_client.get(f"/admin/products/product/{product.pk}/change/")

    formset = response.context["inline_admin_formsets"][0].formset
    assert "channel" in formset.forms[0].fields
    assert [(form.instance.channel, form.instance.headline) for form in formset.forms] == [
        ("generic", "Meet the Northwind Trail tent (bold)"),
        ("google_search", "Tent, $249.99"),
    ]
    assert b'<option value="google_search" selected>Google search ad</option>' in response.content


SHOP_URL = "https://shop.example.com/p/inl-1"


def test_product_change_page_shows_and_edits_the_shop_url(operator_client):
    product = ProductFactory(sku="INL-1", url=SHOP_URL, creatives=[])
    change_url = f"/admin/products/product/{product.pk}/change/"

    page = operator_client.get(change_url)
    form = {
        "sku": "INL-1", "title": product.title, "category": product.category, "brand": product.brand,
        "description": product.description, "price": "249.99", "rating": "4.5", "source": product.source,
        "reference_creatives-TOTAL_FORMS": "0", "reference_creatives-INITIAL_FORMS": "0",
    }  # fmt: skip
    refused = operator_client.post(change_url, {**form, "url": "javascript:alert(1)"})
    saved = operator_client.post(change_url, {**form, "url": "https://example.org/tent"})

    assert f'name="url" value="{SHOP_URL}"' in page.content.decode()
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["url"] == [
        "Enter an http:// or https:// address of the product's page."
    ]
    assert saved.status_code == 302
    assert Product.objects.get(pk=product.pk).url == "https://example.org/tent"


def test_export_writes_the_url_column_and_quotes_a_formula_in_it(operator_client):
    ProductFactory(sku="U-1", url=SHOP_URL, creatives=[])
    ProductFactory(sku="U-2", creatives=[])
    # Every write path refuses this; a row written around them must still never reach a spreadsheet raw.
    ProductFactory(sku="U-3", url='=HYPERLINK("http://evil","click")', creatives=[])

    rows = list(
        csv.DictReader(io.StringIO(streamed(operator_client.get("/admin/products/product/export/")).decode()))
    )

    assert [(row["sku"], row["url"]) for row in rows] == [
        ("U-1", SHOP_URL),
        ("U-2", ""),
        ("U-3", '\'=HYPERLINK("http://evil","click")'),
    ]


def test_admin_import_preview_lists_a_bad_url_by_line_and_stores_the_good_urls(operator_client):
    content = catalog_csv([catalog_row("AU-1", url=SHOP_URL), catalog_row("AU-2", url="javascript:alert(1)")])

    preview = operator_client.post(IMPORT_URL, {"file": upload("shop.csv", content)})
    token = preview.context["confirm_form"].initial["token"]
    operator_client.post(CONFIRM_URL, {"token": token})

    assert [str(issue) for issue in preview.context["report"].errors] == [
        "line 3, url: url must start with http:// or https://; got 'javascript:alert(1)'."
    ]
    assert list(Product.objects.values_list("sku", "url")) == [("AU-1", SHOP_URL)]


# --------------------------------------------------------------------------------------------
# Dataset versions: read-only, statistics as tables, download
# --------------------------------------------------------------------------------------------


@pytest.fixture
def dataset_version():
    product_bulk_upsert_generated(count=20, seed=4)
    return dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL, note="admin test")


def test_dataset_versions_are_read_only_for_everyone(admin_client, dataset_version):
    base = "/admin/products/datasetversion/"

    changelist = admin_client.get(base)
    change = admin_client.get(f"{base}{dataset_version.pk}/change/")

    assert changelist.status_code == 200
    assert b"Add dataset version" not in changelist.content
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{dataset_version.pk}/delete/").status_code == 403
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    html = change.content.decode()
    for caption in ("Products per split", "Category shares", "Price buckets", "Text lengths", "Tone shares"):
        assert f"<caption>{caption}" in html
    assert dataset_version.sha256 in html
    admin_client.post(f"{base}{dataset_version.pk}/change/", {"note": "rewritten"})
    dataset_version.refresh_from_db()
    assert dataset_version.note == "admin test"


def test_download_streams_the_file_from_storage(operator_client, dataset_version):
    response = operator_client.get(f"/admin/products/datasetversion/{dataset_version.pk}/download/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{dataset_version.file.split("/")[-1]}"'
    with default_storage.open(dataset_version.file, "rb") as handle:
        assert b"".join(response.streaming_content) == handle.read()


def test_download_needs_the_view_permission(viewer_client, dataset_version):
    response = viewer_client.get(f"/admin/products/datasetversion/{dataset_version.pk}/download/")

    assert response.status_code == 403


def test_download_of_a_missing_file_says_so(operator_client, dataset_version):
    default_storage.delete(dataset_version.file)

    response = operator_client.get(f"/admin/products/datasetversion/{dataset_version.pk}/download/")

    assert response.status_code == 302
    assert messages_of(response) == [
        f"The file of dataset v{dataset_version.number} ({dataset_version.file}) is missing from storage."
    ]


def test_reverse_of_the_download_url():
    assert (
        reverse("admin:products_datasetversion_download", args=[3])
        == "/admin/products/datasetversion/3/download/"
    )


def test_uploads_left_unconfirmed_for_a_day_are_deleted(operator_client):
    import os
    import time

    operator_client.post(IMPORT_URL, {"file": upload("old.csv", catalog_csv([catalog_row("OLD")]))})
    ((_, stale),) = pending_uploads(operator_client).items()
    two_days_ago = time.time() - 2 * 86400
    os.utime(default_storage.path(stale["name"]), (two_days_ago, two_days_ago))

    operator_client.post(IMPORT_URL, {"file": upload("new.csv", catalog_csv([catalog_row("NEW")]))})

    assert not default_storage.exists(stale["name"])
    assert len(pending_uploads(operator_client)) == 2
