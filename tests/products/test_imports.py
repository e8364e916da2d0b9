"""products_import: CSV and JSON catalogs, every kind of bad row, re-import, atomicity, round trip."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from creativeops.core.errors import ApplicationError
from products.models import Product, ReferenceCreative
from products.services import catalog_csv_lines, product_bulk_upsert_generated, products_import
from products.services.import_files import CATALOG_COLUMNS, ImportIssue
from tests.factories.products import CATALOG_HEADER, ProductFactory, catalog_csv, catalog_json, catalog_row

pytestmark = pytest.mark.django_db


def run_import(content: bytes, filename: str = "catalog.csv", **kwargs):
    return products_import(file=io.BytesIO(content), filename=filename, actor=None, **kwargs)


def stored_catalog() -> dict[str, dict]:
    return {
        product.sku: {
            "title": product.title,
            "category": product.category,
            "brand": product.brand,
            "description": product.description,
            "price": product.price,
            "rating": product.rating,
            "source": product.source,
            "creatives": {
                creative.tone: (creative.headline, creative.body, creative.cta)
                for creative in product.reference_creatives.all()
            },
        }
        for product in Product.objects.prefetch_related("reference_creatives")
    }


# --------------------------------------------------------------------------------------------
# Happy paths
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True], ids=["utf8", "utf8-bom"])
def test_csv_import_stores_products_with_their_creatives(bom):
    content = catalog_csv(
        [
            catalog_row("SKU-A"),
            catalog_row("SKU-A", tone="luxury", headline="Quiet Luxury, Cast in Iron", cta="Discover more"),
            catalog_row("SKU-B", title="Plain skillet", price="12.50", tone="", headline="", body="", cta=""),
        ],
        bom=bom,
    )

    report = run_import(content)

    assert (report.rows, report.rejected_rows, report.errors) == (3, 0, [])
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    catalog = stored_catalog()
    assert set(catalog) == {"SKU-A", "SKU-B"}
    assert catalog["SKU-A"]["price"] == Decimal("39.99")
    assert catalog["SKU-A"]["rating"] == Decimal("4.6")
    assert catalog["SKU-A"]["source"] == Product.Source.IMPORTED
    assert catalog["SKU-A"]["creatives"] == {
        "bold": (
            "Sear Like You Mean It",
            "The Copper Hearth skillet heats evenly from edge to edge.",
            "Shop now",
        ),
        "luxury": (
            "Quiet Luxury, Cast in Iron",
            "The Copper Hearth skillet heats evenly from edge to edge.",
            "Discover more",
        ),
    }
    assert catalog["SKU-B"]["creatives"] == {}
    assert catalog["SKU-B"]["price"] == Decimal("12.50")


def test_csv_without_creative_columns_and_with_semicolons_imports():
    content = (
        b"SKU;Title;Category;Brand;Description;Price;Rating\n"
        b"S-1;Trail lamp;Outdoor;Cairnline;A headlamp with 300 lumens of light.;19.00;4\n"
    )

    report = run_import(content)

    assert (report.created, report.rejected_rows) == (1, 0)
    assert Product.objects.get(sku="S-1").rating == Decimal("4.0")
    assert ReferenceCreative.objects.count() == 0


def test_json_list_with_nested_and_flat_creatives():
    products = [
        {
            **{
                key: value
                for key, value in catalog_row("J-1").items()
                if key not in ("tone", "headline", "body", "cta")
            },
            "price": 39.99,
            "rating": 4.6,
            "creatives": [
                {"tone": "bold", "headline": "Sear It", "body": "Heats evenly.", "cta": "Shop now"},
                {
                    "tone": "playful",
                    "headline": "Pan-tastic!",
                    "body": "Flip, sizzle, smile.",
                    "cta": "Let's go!",
                },
            ],
        },
        catalog_row(
            "J-2", tone="value", headline="Just $39.99", body="Everything you need for $39.99.", cta="Buy"
        ),
    ]

    report = run_import(catalog_json(products), "catalog.json")

    assert (report.file_format, report.created, report.rejected_rows) == ("json", 2, 0)
    catalog = stored_catalog()
    assert catalog["J-1"]["price"] == Decimal("39.99")
    assert set(catalog["J-1"]["creatives"]) == {"bold", "playful"}
    assert catalog["J-2"]["creatives"] == {"value": ("Just $39.99", "Everything you need for $39.99.", "Buy")}


def test_json_object_with_products_key():
    report = run_import(
        catalog_json({"products": [catalog_row("J-3")], "exported_at": "2026-11-26"}), "c.JSON"
    )

    assert (report.created, report.rejected_rows) == (1, 0)
    assert Product.objects.filter(sku="J-3").exists()


def test_reimport_updates_by_sku_and_never_duplicates():
    rows = [catalog_row("R-1"), catalog_row("R-2"), catalog_row("R-2", tone="value", headline="Value!")]
    first = run_import(catalog_csv(rows))
    again = run_import(catalog_csv(rows))
    rows[0]["price"] = "35.00"
    rows[2]["headline"] = "Even better value"
    changed = run_import(catalog_csv(rows))

    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, 0)
    assert Product.objects.count() == 2
    assert ReferenceCreative.objects.count() == 3
    assert Product.objects.get(sku="R-1").price == Decimal("35.00")
    assert ReferenceCreative.objects.get(product__sku="R-2", tone="value").headline == "Even better value"


def test_import_of_a_generated_sku_takes_it_over_as_imported():
    ProductFactory(sku="G-1", source=Product.Source.GENERATED, creatives=["bold", "luxury"])

    report = run_import(catalog_csv([catalog_row("G-1")]))

    product = Product.objects.get(sku="G-1")
    assert report.updated == 1
    assert product.source == Product.Source.IMPORTED
    # Creatives the file does not mention are kept; the one it names is replaced.
    assert set(product.reference_creatives.values_list("tone", flat=True)) == {"bold", "luxury"}
    assert product.reference_creatives.get(tone="bold").headline == "Sear Like You Mean It"


def test_dry_run_counts_but_stores_nothing():
    ProductFactory(sku="D-1")

    report = run_import(catalog_csv([catalog_row("D-1"), catalog_row("D-2")]), dry_run=True)

    assert (report.dry_run, report.created, report.updated) == (True, 1, 1)
    assert list(Product.objects.values_list("sku", flat=True)) == ["D-1"]
    assert report.summary() == (
        "catalog.csv: 2 rows read, 0 rejected. Products would be created: 1, updated: 1, unchanged: 0."
    )


def test_prices_and_ratings_follow_one_rule_stored_exactly_or_refused_never_rounded():
    report = run_import(
        catalog_csv(
            [
                catalog_row("RT-1", rating="4.5", price="19.9"),
                catalog_row("RT-2", rating="4.55"),
                catalog_row("RT-3", price="19.999"),
            ]
        )
    )

    assert dict(Product.objects.values_list("sku", "rating")) == {"RT-1": Decimal("4.5")}
    assert Product.objects.get().price == Decimal("19.90")
    assert [str(issue) for issue in report.errors] == [
        "line 3, rating: rating '4.55' has more than 1 decimal place.",
        "line 4, price: price '19.999' has more than 2 decimal places.",
    ]


def test_tabs_line_breaks_and_ordinary_unicode_are_accepted():
    description = "Line one\n\tLine two\r\nZürich 東京 😀 \u200fשלום"
    report = run_import(catalog_csv([catalog_row("UNI-1", description=description, title="Café ☕")]))

    assert report.errors == []
    assert Product.objects.get().description == description


def test_export_then_import_round_trip_is_unchanged_and_restores_the_catalog():
    ProductFactory(sku="RT-A", title='Tent, "the good one"\nsecond line', price=Decimal("1234.50"))
    ProductFactory(sku="=RT-F", title='=HYPERLINK("http://x")', brand="'quoted", description="-50% @SUM(A1)")
    ProductFactory(sku="RT-B", creatives=[])
    ProductFactory(sku="RT-C", creatives=["luxury", "value"])
    before = stored_catalog()
    exported = "".join(catalog_csv_lines(products=Product.objects.all())).encode()

    unchanged = run_import(exported, "export.csv")
    Product.objects.all().delete()
    restored = run_import(exported, "export.csv")

    assert (unchanged.rejected_rows, unchanged.unchanged, unchanged.updated) == (0, 4, 0)
    assert (restored.rejected_rows, restored.created) == (0, 4)
    assert stored_catalog() == before
    assert exported.decode().splitlines()[0] == ",".join(CATALOG_COLUMNS)
    assert (*CATALOG_HEADER[:8], "channel", *CATALOG_HEADER[8:]) == CATALOG_COLUMNS


# --------------------------------------------------------------------------------------------
# Bad rows: reported by line and field, not stored; the good rows are
# --------------------------------------------------------------------------------------------

BAD_ROWS = [
    ({"title": ""}, "title", "title is empty; every product needs one."),
    ({"sku": "  "}, "sku", "sku is empty; every product needs one."),
    ({"price": "-5"}, "price", "price must be greater than 0; got -5."),
    ({"price": "0"}, "price", "price must be greater than 0; got 0."),
    ({"price": "abc"}, "price", "price 'abc' is not a number."),
    ({"price": "NaN"}, "price", "price 'NaN' is not a number."),
    ({"price": "19.999"}, "price", "price '19.999' has more than 2 decimal places."),
    ({"price": "100000000"}, "price", "price must be at most 99999999.99; got 100000000."),
    ({"rating": "5.5"}, "rating", "rating must be between 0 and 5; got 5.5."),
    ({"rating": "-0.5"}, "rating", "rating must be between 0 and 5; got -0.5."),
    ({"rating": "great"}, "rating", "rating 'great' is not a number."),
    ({"tone": "angry"}, "tone", "tone 'angry' is not one of bold, luxury, value, playful."),
    ({"headline": ""}, "headline", "headline is empty; a creative needs tone, headline, body and cta."),
    ({"tone": ""}, "tone", "tone is empty; a creative needs tone, headline, body and cta."),
    ({"title": "T" * 201}, "title", "title is 201 characters long; the limit is 200."),
    ({"sku": "S" * 65}, "sku", "sku is 65 characters long; the limit is 64."),
    ({"description": "d" * 5001}, "description", "description is 5,001 characters long; the limit is 5,000."),
    ({"cta": "c" * 81}, "cta", "cta is 81 characters long; the limit is 80."),
    (
        {"brand": "Acme\x00"},
        "brand",
        "brand contains a control character U+0000 (NUL) at position 5; remove it.",
    ),
    (
        {"title": "Tent\x1b[31m"},
        "title",
        "title contains a control character U+001B (ESC) at position 5; remove it.",
    ),
    (
        {"headline": "Ring\x07"},
        "headline",
        "headline contains a control character U+0007 (BEL) at position 5; remove it.",
    ),
    (
        {"title": "Tent \u202egnp.exe"},
        "title",
        "title contains a bidirectional control character U+202E (Right-To-Left Override) at position 6; "
        "remove it.",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_ROWS, ids=[case[2][:40] for case in BAD_ROWS])
def test_bad_csv_row_is_reported_by_line_and_field_and_not_stored(overrides, field, message):
    content = catalog_csv(
        [catalog_row("GOOD-1"), catalog_row(**{"sku": "BAD-1", **overrides}), catalog_row("GOOD-2")]
    )

    report = run_import(content)

    assert report.errors == [ImportIssue(line=3, field=field, message=message)]
    assert str(report.errors[0]) == f"line 3, {field}: {message}"
    assert (report.rows, report.rejected_rows, report.created) == (3, 1, 2)
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["GOOD-1", "GOOD-2"]
    assert ReferenceCreative.objects.count() == 2


def test_every_error_of_a_row_is_reported():
    report = run_import(catalog_csv([catalog_row("BAD", title="", price="free", rating="9", tone="sad")]))

    assert [(issue.line, issue.field) for issue in report.errors] == [
        (2, "title"),
        (2, "price"),
        (2, "rating"),
        (2, "tone"),
    ]
    assert Product.objects.count() == 0


def test_same_sku_with_different_product_data_is_rejected_on_the_second_line():
    content = catalog_csv(
        [
            catalog_row("DUP-1"),
            catalog_row("OTHER"),
            catalog_row("DUP-1", tone="luxury", price="45.00", title="Another title"),
        ]
    )

    report = run_import(content)

    assert report.errors == [
        ImportIssue(
            line=4,
            field="sku",
            message=(
                "sku 'DUP-1' is on line 2 with different product data (title, price); one sku is one product."
            ),
        )
    ]
    product = Product.objects.get(sku="DUP-1")
    assert product.price == Decimal("39.99")
    assert list(product.reference_creatives.values_list("tone", flat=True)) == ["bold"]


def test_same_sku_and_tone_with_a_different_creative_is_rejected():
    content = catalog_csv([catalog_row("T-1"), catalog_row("T-1", headline="A different headline")])

    report = run_import(content)

    assert report.errors == [
        ImportIssue(
            line=3,
            field="tone",
            message="sku 'T-1' already has a different 'bold' creative on line 2; one creative per tone.",
        )
    ]
    assert ReferenceCreative.objects.get(product__sku="T-1").headline == "Sear Like You Mean It"


def test_identical_repeated_row_is_accepted_once():
    report = run_import(catalog_csv([catalog_row("T-2"), catalog_row("T-2")]))

    assert (report.errors, report.created) == ([], 1)
    assert ReferenceCreative.objects.filter(product__sku="T-2").count() == 1


def test_csv_row_with_too_many_values():
    content = catalog_csv([catalog_row("OK")]) + b"X-1,t,c,b,d,1.00,4,,bold,h,b,c,EXTRA\n"

    report = run_import(content)

    assert report.errors == [
        ImportIssue(line=3, field=None, message="Row has 13 values but the header has 12 columns.")
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["OK"]


def test_csv_line_numbers_count_blank_lines_and_multiline_values():
    good = catalog_csv([catalog_row("M-1", description="line one\nline two")])
    content = good + b"\n" + catalog_csv([catalog_row("M-2", price="x")]).split(b"\n", 1)[1]

    report = run_import(content)

    assert [(issue.line, issue.field) for issue in report.errors] == [(5, "price")]


def test_json_bad_items_are_reported_on_their_line():
    content = (
        b'[\n  {"sku": "J-OK", "title": "t", "category": "c", "brand": "b", "description": "d",'
        b' "price": 10, "rating": 4},\n'
        b'  "not a product",\n'
        b'  {"sku": "J-BAD", "title": "t", "category": "c", "brand": "b", "description": "d", "rating": 4,\n'
        b'   "creatives": [{"tone": "loud", "headline": "h", "body": "b", "cta": "c"}]},\n'
        b'  {"sku": "J-BOOL", "title": "t", "category": "c", "brand": "b", "description": "d",'
        b' "price": true, "rating": 4}\n]'
    )

    report = run_import(content, "catalog.json")

    assert report.errors == [
        ImportIssue(line=3, field=None, message="Product 2 is not an object but a string.", item=2),
        ImportIssue(line=4, field="price", message="price is missing.", item=3, sku="J-BAD"),
        ImportIssue(
            line=4,
            field="creatives[0].tone",
            message="tone 'loud' is not one of bold, luxury, value, playful.",
            item=3,
            sku="J-BAD",
        ),
        ImportIssue(
            line=6, field="price", message="price must be text, not a boolean.", item=4, sku="J-BOOL"
        ),
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["J-OK"]


def test_json_errors_on_a_one_line_file_name_the_item_and_its_sku():
    products = [catalog_row("ONE-1"), catalog_row("ONE-2", price="free"), catalog_row("ONE-3", rating="7")]
    content = json.dumps(products).encode()  # the whole file on line 1

    report = run_import(content, "catalog.json")

    assert [str(issue) for issue in report.errors] == [
        "line 1, item 2 (sku 'ONE-2'), price: price 'free' is not a number.",
        "line 1, item 3 (sku 'ONE-3'), rating: rating must be between 0 and 5; got 7.",
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["ONE-1"]


def test_one_oversized_csv_cell_rejects_its_row_naming_line_field_and_limit_and_imports_the_others():
    huge = "x" * 200_000  # past Python's csv.field_size_limit() of 131,072
    content = catalog_csv(
        [
            catalog_row("BIG-0"),
            catalog_row("BIG-1", description=huge, headline='multi\n"line"'),
            catalog_row("BIG-2"),
        ]
    )

    report = run_import(content)

    assert [str(issue) for issue in report.errors] == [
        "line 3, description: description is 200,000 characters long; the limit for a cell is 131,072."
    ]
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["BIG-0", "BIG-2"]


# --------------------------------------------------------------------------------------------
# Files that cannot be read at all: refused whole, nothing stored
# --------------------------------------------------------------------------------------------


def test_missing_required_columns_are_listed():
    content = catalog_csv(
        [catalog_row()], header=["sku", "title", "category", "description", "rating", "tone"]
    )

    with pytest.raises(ApplicationError) as raised:
        run_import(content)

    assert raised.value.message == (
        "catalog.csv is missing required columns: brand, price. The header needs sku, title, category, "
        "brand, description, price, rating; url, channel, tone, headline, body, cta are optional."
    )
    assert raised.value.field == "file"
    assert Product.objects.count() == 0


def test_file_that_is_not_utf8_is_refused():
    content = "sku,title,category,brand,description,price,rating\nS-1,Caf\u00e9 mug,Home,Brand,d,5.00,4\n"

    with pytest.raises(ApplicationError) as raised:
        run_import(content.encode("latin-1"))

    assert raised.value.message == (
        "catalog.csv is not UTF-8: invalid byte 0xe9 on line 2. "
        "Save it as UTF-8 (in Excel: \u201cCSV UTF-8\u201d) and upload it again."
    )
    assert Product.objects.count() == 0


def test_invalid_json_is_refused_with_its_position():
    with pytest.raises(ApplicationError) as raised:
        run_import(b'[\n  {"sku": "A",}\n]', "catalog.json")

    assert raised.value.message == (
        "catalog.json is not valid JSON: "
        "Expecting property name enclosed in double quotes at line 2, column 15."
    )


def test_deeply_nested_json_is_refused_naming_the_depth_limit():
    with pytest.raises(ApplicationError) as raised:
        run_import(b"[" * 10_000 + b"]" * 10_000, "catalog.json")

    assert raised.value.message == (
        "catalog.json is not read: JSON arrays and objects are nested more than 32 levels deep; "
        "the limit is 32."
    )
    assert raised.value.field == "file"


def test_json_of_the_wrong_shape_is_refused():
    with pytest.raises(ApplicationError) as raised:
        run_import(b'{"items": []}', "catalog.json")

    assert raised.value.message == (
        'catalog.json: JSON must be a list of products or an object with a "products" list.'
    )


def test_file_over_the_size_limit_is_refused_naming_the_limit(settings):
    settings.IMPORT_MAX_FILE_BYTES = 100

    with pytest.raises(ApplicationError) as raised:
        run_import(catalog_csv([catalog_row()]))

    assert raised.value.message == (
        "catalog.csv is over 100 bytes; the import limit is 100 bytes (IMPORT_MAX_FILE_BYTES). "
        "Split the catalog into smaller files."
    )
    assert Product.objects.count() == 0


def test_unsupported_file_type_is_refused():
    with pytest.raises(ApplicationError) as raised:
        run_import(b"irrelevant", "catalog.xlsx")

    assert raised.value.message == "catalog.xlsx: unsupported file type '.xlsx'; upload a .csv or .json file."


def test_empty_csv_is_refused():
    with pytest.raises(ApplicationError) as raised:
        run_import(b"")

    assert raised.value.message == (
        "catalog.csv is empty: expected a header row naming "
        "sku, title, category, brand, description, price, rating."
    )


def test_a_database_failure_stores_nothing(monkeypatch):
    """Products and their creatives are written in one transaction: a failure leaves no half product."""

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ReferenceCreative.objects, "bulk_create", fail)

    with pytest.raises(RuntimeError):
        run_import(catalog_csv([catalog_row("A-1"), catalog_row("A-2")]))

    assert Product.objects.count() == 0


# --------------------------------------------------------------------------------------------
# The optional url column: the product's page on the shop
# --------------------------------------------------------------------------------------------

SHOP_URL = "https://shop.example.com/p/copper-hearth-skillet?colour=black#reviews"


def test_csv_and_json_imports_store_the_url_of_each_product():
    csv_report = run_import(
        catalog_csv(
            [
                catalog_row("URL-A", url=SHOP_URL),
                catalog_row("URL-A", url=SHOP_URL, tone="luxury"),
                catalog_row("URL-B", url="  http://example.org/b  "),
                catalog_row("URL-C", url=""),
            ]
        )
    )
    json_report = run_import(
        catalog_json({"products": [catalog_row("URL-J", url="https://shop.example.com/p/%E6%9D%B1")]}),
        "catalog.json",
    )

    assert (csv_report.errors, csv_report.created, json_report.errors, json_report.created) == ([], 3, [], 1)
    assert dict(Product.objects.values_list("sku", "url")) == {
        "URL-A": SHOP_URL,
        "URL-B": "http://example.org/b",
        "URL-C": "",
        "URL-J": "https://shop.example.com/p/%E6%9D%B1",
    }


def test_a_file_without_the_url_column_keeps_stored_urls_and_an_empty_cell_clears_one():
    ProductFactory(sku="KEEP-1", url=SHOP_URL)
    ProductFactory(sku="CLEAR-1", url=SHOP_URL)
    header_without_url = [name for name in CATALOG_HEADER if name != "url"]

    kept = run_import(catalog_csv([catalog_row("KEEP-1", title="New title")], header=header_without_url))
    kept_json = run_import(catalog_json([catalog_row("KEEP-1", title="New title")]), "catalog.json")
    cleared = run_import(catalog_csv([catalog_row("CLEAR-1", url="")]))

    assert (kept.errors, kept.updated, kept_json.unchanged) == ([], 1, 1)
    assert (cleared.errors, cleared.updated) == ([], 1)
    assert Product.objects.get(sku="KEEP-1").url == SHOP_URL
    assert Product.objects.get(sku="KEEP-1").title == "New title"
    assert Product.objects.get(sku="CLEAR-1").url == ""


BAD_URLS = [
    ("javascript:alert(1)", "url must start with http:// or https://; got 'javascript:alert(1)'."),
    ("JavaScript://%0Aalert(1)", "url must start with http:// or https://; got 'JavaScript://%0Aalert(1)'."),
    ("data:text/html,<b>hi</b>", "url must start with http:// or https://; got 'data:text/html,<b>hi</b>'."),
    (
        "ftp://shop.example.com/p/1",
        "url must start with http:// or https://; got 'ftp://shop.example.com/p/1'.",
    ),
    ("file:///etc/passwd", "url must start with http:// or https://; got 'file:///etc/passwd'."),
    ("shop.example.com/p/1", "url must start with http:// or https://; got 'shop.example.com/p/1'."),
    ("https://shop.example.com/p/red tent", "url contains a space at position 31; write it as %20."),
    ("https://", "url 'https://' is not a web address like https://shop.example.com/p/sku-1."),
    ("http://no_host", "url 'http://no_host' is not a web address like https://shop.example.com/p/sku-1."),
    (
        "https://shop.example.com/p/" + "x" * 474,
        "url is 501 characters long; the limit is 500.",
    ),
    (
        "https://shop.example.com/\x1b[31m",
        "url contains a control character U+001B (ESC) at position 26; remove it.",
    ),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS, ids=[case[0][:30] for case in BAD_URLS])
def test_a_bad_url_rejects_only_its_row_naming_line_field_and_limit(url, message):
    content = catalog_csv(
        [catalog_row("GOOD-1", url=SHOP_URL), catalog_row("BAD-1", url=url), catalog_row("GOOD-2")]
    )

    report = run_import(content)

    assert report.errors == [ImportIssue(line=3, field="url", message=message)]
    assert str(report.errors[0]) == f"line 3, url: {message}"
    assert (report.rows, report.rejected_rows, report.created) == (3, 1, 2)
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["GOOD-1", "GOOD-2"]


def test_a_bad_url_in_json_names_the_item_and_its_sku():
    products = [catalog_row("J-1", url=SHOP_URL), catalog_row("J-2", url="javascript:alert(1)")]

    report = run_import(json.dumps(products).encode(), "catalog.json")

    assert [str(issue) for issue in report.errors] == [
        "line 1, item 2 (sku 'J-2'), url: url must start with http:// or https://; got 'javascript:alert(1)'."
    ]
    assert list(Product.objects.values_list("sku", "url")) == [("J-1", SHOP_URL)]


def test_one_sku_with_two_urls_is_rejected_as_different_product_data():
    report = run_import(
        catalog_csv([catalog_row("TWO-1", url=SHOP_URL), catalog_row("TWO-1", url="https://example.org/x")])
    )

    assert [str(issue) for issue in report.errors] == [
        "line 3, sku: sku 'TWO-1' is on line 2 with different product data (url); one sku is one product."
    ]
    assert Product.objects.get(sku="TWO-1").url == SHOP_URL


def test_export_then_import_keeps_the_url():
    ProductFactory(sku="RT-URL", url=SHOP_URL)
    exported = "".join(catalog_csv_lines(products=Product.objects.all())).encode()
    Product.objects.all().delete()

    report = run_import(exported, "export.csv")

    assert (report.errors, report.created) == ([], 1)
    assert Product.objects.get(sku="RT-URL").url == SHOP_URL


# --------------------------------------------------------------------------------------------
# The optional channel column: past ad copy written for an ad platform, within its limits
# --------------------------------------------------------------------------------------------

SEARCH_AD = {"tone": "bold", "headline": "Copper Hearth Skillet", "body": "Sears evenly.", "cta": "Shop Now"}


def stored_creatives(sku: str) -> list[tuple[str, str, str]]:
    return list(
        ReferenceCreative.objects.filter(product__sku=sku)
        .order_by("channel", "tone")
        .values_list("channel", "tone", "headline")
    )


def test_csv_channel_column_stores_each_creative_for_its_channel_and_an_empty_cell_is_generic():
    content = catalog_csv(
        [
            catalog_row("CH-1", channel=""),
            catalog_row("CH-1", channel="google_search", **SEARCH_AD),
            catalog_row(
                "CH-1", channel="Meta_Feed", tone="value", headline="Skillet, $39.99", cta="Cast iron"
            ),
        ],
        header=[*CATALOG_HEADER, "channel"],
    )

    report = run_import(content)
    again = run_import(content)

    assert (report.errors, report.created, again.unchanged) == ([], 1, 1)
    assert stored_creatives("CH-1") == [
        ("generic", "bold", "Sear Like You Mean It"),
        ("google_search", "bold", "Copper Hearth Skillet"),
        ("meta_feed", "value", "Skillet, $39.99"),
    ]


def test_a_file_without_the_channel_column_imports_generic_creatives():
    report = run_import(catalog_csv([catalog_row("CH-2")]))  # the header of every file before channels

    assert report.errors == []
    assert stored_creatives("CH-2") == [("generic", "bold", "Sear Like You Mean It")]


def test_json_creatives_carry_their_channel():
    product = catalog_row("CH-3", channel="google_search", **SEARCH_AD)
    product["creatives"] = [
        {"channel": "meta_feed", "tone": "luxury", "headline": "Cast to Last", "body": "b", "cta": "c"}
    ]

    report = run_import(catalog_json([product]), "catalog.json")

    assert report.errors == []
    assert stored_creatives("CH-3") == [
        ("google_search", "bold", "Copper Hearth Skillet"),
        ("meta_feed", "luxury", "Cast to Last"),
    ]


def test_an_unknown_channel_rejects_its_row_naming_the_field_and_the_allowed_channels():
    content = catalog_csv(
        [catalog_row("CH-4", channel="tiktok"), catalog_row("CH-5")], header=[*CATALOG_HEADER, "channel"]
    )

    report = run_import(content)

    assert report.errors == [
        ImportIssue(
            line=2,
            field="channel",
            message="channel 'tiktok' is not one of generic, google_search, meta_feed.",
        )
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["CH-5"]


def test_a_channel_without_a_creative_is_an_error():
    empty = {"tone": "", "headline": "", "body": "", "cta": ""}
    content = catalog_csv(
        [catalog_row("CH-6", channel="meta_feed", **empty)], header=[*CATALOG_HEADER, "channel"]
    )

    report = run_import(content)

    assert [(issue.field, issue.message) for issue in report.errors] == [
        (name, f"{name} is empty; a creative needs tone, headline, body and cta.")
        for name in ("tone", "headline", "body", "cta")
    ]


@pytest.mark.parametrize(
    ("channel", "overrides", "field", "message"),
    [
        (
            "google_search",
            {"headline": "Copper Hearth Cast Iron Skillet"},
            "headline",
            "headline is 31 characters long; channel google_search allows at most 30.",
        ),
        (
            "google_search",
            {"body": "x" * 91},
            "body",
            "body is 91 characters long; channel google_search allows at most 90.",
        ),
        (
            "google_search",
            {"cta": "Order the Copper Hearth Skillet"},  # a second headline in a search ad
            "cta",
            "cta is 31 characters long; channel google_search allows at most 30.",
        ),
        (
            "meta_feed",
            {"headline": "The Copper Hearth 10-Inch Cast Iron Skillet"},
            "headline",
            "headline is 43 characters long; channel meta_feed allows at most 40.",
        ),
        (
            "meta_feed",
            {"body": "y" * 126},
            "body",
            "body is 126 characters long; channel meta_feed allows at most 125.",
        ),
        (
            "meta_feed",
            {"cta": "銅の鋳鉄フライパン、十インチ、四十ドル"},  # 19 characters, 38 columns
            "cta",
            "cta is 38 characters long (a double-width character counts 2); channel meta_feed allows at "
            "most 30.",
        ),
    ],
)
def test_copy_over_its_channels_limit_rejects_the_row_naming_field_channel_and_limit(
    channel, overrides, field, message
):
    row = catalog_row("CH-7", channel=channel, **{**SEARCH_AD, **overrides})

    report = run_import(catalog_csv([row], header=[*CATALOG_HEADER, "channel"]))

    assert report.errors == [ImportIssue(line=2, field=field, message=message)]
    assert Product.objects.count() == 0


def test_the_generic_channel_keeps_the_limits_it_had():
    headline = "A generic headline may run long, as it always could: " + "x" * 100

    report = run_import(
        catalog_csv(
            [catalog_row("CH-8", channel="generic", headline=headline)], header=[*CATALOG_HEADER, "channel"]
        )
    )

    assert report.errors == []
    assert stored_creatives("CH-8") == [("generic", "bold", headline)]


def test_one_creative_per_tone_and_channel():
    content = catalog_csv(
        [
            catalog_row("CH-9", channel="google_search", **SEARCH_AD),
            catalog_row("CH-9", channel="google_search", **{**SEARCH_AD, "headline": "Another Headline"}),
            catalog_row("CH-9"),  # the same tone in another channel is another creative
        ],
        header=[*CATALOG_HEADER, "channel"],
    )

    report = run_import(content)

    assert report.errors == [
        ImportIssue(
            line=3,
            field="tone",
            message=(
                "sku 'CH-9' already has a different 'bold' creative for google_search on line 2; "
                "one creative per tone and channel."
            ),
        )
    ]
    assert stored_creatives("CH-9") == [
        ("generic", "bold", "Sear Like You Mean It"),
        ("google_search", "bold", "Copper Hearth Skillet"),
    ]


def test_an_exported_generated_catalog_imports_back_with_every_channel():
    def every_creative() -> list[tuple]:
        return list(
            ReferenceCreative.objects.order_by("product__sku", "channel", "tone").values_list(
                "product__sku", "channel", "tone", "headline", "body", "cta"
            )
        )

    product_bulk_upsert_generated(count=6, seed=31)
    before = every_creative()
    exported = "".join(catalog_csv_lines(products=Product.objects.all())).encode()
    Product.objects.all().delete()

    report = run_import(exported, "export.csv")

    assert (report.errors, report.created) == ([], 6)
    assert every_creative() == before
    assert len(before) == 6 * 12 and {row[1] for row in before} == {"generic", "google_search", "meta_feed"}
