"""The ad-platform exports' service: campaign and ad group name templates, and rows read lazily, in
chunks, with their products joined (the page and the API both call it: tests/pages/test_ad_export.py,
tests/inference/test_ad_exports_api.py)."""

from __future__ import annotations

import io

import pandas
import pytest

from creativeops.core.errors import ApplicationError
from inference.selectors_pages import CreativeFilters
from inference.services.ad_exports import (
    GOOGLE_ADS_COLUMNS,
    META_COLUMNS,
    ad_export_build,
    name_template_parse,
)
from registry.models import ModelVersion
from tests.pages.builders import google_assets, make_asset_set, make_model_version, make_product, meta_assets

pytestmark = pytest.mark.django_db


def csv_frame(export) -> pandas.DataFrame:
    return pandas.read_csv(io.StringIO("".join(export.csv_lines())), keep_default_na=False, dtype=str)


def test_a_name_template_fills_in_the_products_fields():
    product = make_product("GDN-1", category="Garden", brand="Sprout Lane")

    template = name_template_parse("  {{Spring}} {category} / {brand} / {sku}  ", label="Campaign")

    assert template.render(product) == "{Spring} Garden / Sprout Lane / GDN-1"


@pytest.mark.parametrize(
    ("template", "field", "message"),
    [
        ("   ", "campaign", "Campaign must not be empty."),
        ("{}", "campaign", "Campaign has {}; the placeholders are {category}, {brand}, {sku}."),
        ("{brand!r}", "campaign", "Campaign has {brand!r}; the placeholders are {category}, {brand}, {sku}."),
        (
            "}",
            "campaign",
            "Campaign has a brace without its pair: placeholders are {category}, {brand}, {sku}; ",
        ),
        (
            "Sale\x1b",
            "campaign",
            "Campaign contains a control character U+001B (ESC) at position 5; remove it.",
        ),
    ],
)
def test_a_name_template_google_would_refuse_says_what_to_change(template, field, message):
    with pytest.raises(ApplicationError) as raised:
        name_template_parse(template, label="Campaign")

    assert raised.value.message.startswith(message)
    assert raised.value.field == field


def test_a_name_is_checked_against_255_characters_with_the_longest_stored_values():
    # {category} up to 64, {brand} up to 100, {sku} up to 64 characters: 64 + 3 + 100 + 3 + 64 = 234.
    name_template_parse("{category} · {brand} · {sku}" + "x" * 21, label="Ad group")

    with pytest.raises(ApplicationError) as raised:
        name_template_parse("{category} · {brand} · {sku}" + "x" * 22, label="Ad group")

    assert raised.value.field == "ad_group"
    assert "can make names of 256 characters" in raised.value.message
    assert "Google Ads allows 255: shorten it by 1." in raised.value.message


def test_the_export_reads_nothing_until_streamed_then_reads_in_chunks(django_assert_num_queries):
    production = make_model_version(3, status=ModelVersion.Status.PRODUCTION)
    for number in range(5):
        product = make_product(
            f"GDN-{number}", title=f"Tool {number}", url=f"https://shop.example.com/{number}"
        )
        make_asset_set(product, production, "google_search", google_assets(product.title))

    with django_assert_num_queries(0):
        export = ad_export_build(
            platform="google_ads", model_version=production, filters=CreativeFilters(), chunk_size=2
        )
    # One query for every row, products joined (a server-side cursor fetching 2 rows at a time).
    with django_assert_num_queries(1):
        frame = csv_frame(export)

    assert list(frame.columns) == list(GOOGLE_ADS_COLUMNS)
    assert list(frame["Final URL"]) == [f"https://shop.example.com/{number}" for number in range(5)]


def test_the_sort_of_the_page_orders_the_rows():
    production = make_model_version(3, status=ModelVersion.Status.PRODUCTION)
    for sku, price in (("A-1", "30.00"), ("A-2", "10.00"), ("A-3", "20.00")):
        make_asset_set(make_product(sku, price=price), production, "meta_feed", meta_assets(sku, texts=1))

    export = ad_export_build(
        platform="meta", model_version=production, filters=CreativeFilters(sort="-price")
    )

    frame = csv_frame(export)
    assert list(frame.columns) == list(META_COLUMNS)
    assert list(frame["Title"]) == ["A-1 headline 1", "A-3 headline 1", "A-2 headline 1"]


def test_an_unknown_format_names_the_allowed_ones():
    production = make_model_version(3, status=ModelVersion.Status.PRODUCTION)

    with pytest.raises(ApplicationError) as raised:
        ad_export_build(platform="bing", model_version=production, filters=CreativeFilters())

    assert raised.value.message == 'Unknown export format "bing"; allowed: google_ads, meta.'
    assert raised.value.field == "platform"
