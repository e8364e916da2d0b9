"""The ad-platform export of /creatives/: a Google Ads Editor or Meta bulk-import CSV of the listed
products' asset sets, opened as a platform (or pandas) reads it."""

from __future__ import annotations

import io

import pandas
import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from inference.services.ad_exports import GOOGLE_ADS_COLUMNS, META_COLUMNS
from registry.models import ModelVersion
from tests.factories.users import make_user
from tests.pages.builders import (
    google_assets,
    make_asset_set,
    make_creative,
    make_model_version,
    make_product,
    meta_assets,
    page_text,
)
from training.ml.channels import CHANNELS, META_CALLS_TO_ACTION, display_width

pytestmark = pytest.mark.django_db
AD_EXPORT_URL = reverse("creatives:ad_export")
LIST_URL = reverse("creatives:list")


def read_export(response) -> pandas.DataFrame:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode("utf-8")
    return pandas.read_csv(io.StringIO(content), keep_default_na=False, dtype=str)


def assert_google_cells_within_limits(frame: pandas.DataFrame) -> None:
    channel = CHANNELS["google_search"]
    limits = {"Headline": "headline", "Description": "description", "Path": "path"}
    for column in frame.columns:
        prefix = column.rsplit(" ", 1)[0]
        for value in frame[column]:
            if prefix in limits:
                assert display_width(value) <= channel.field(limits[prefix]).max_width, (column, value)
            elif column in ("Campaign", "Ad group"):
                assert 0 < len(value) <= 255


def assert_meta_cells_within_limits(frame: pandas.DataFrame) -> None:
    channel = CHANNELS["meta_feed"]
    for column, field in (
        ("Title", "headline"),
        ("Body", "primary_text"),
        ("Link Description", "link_description"),
    ):
        assert all(display_width(value) <= channel.field(field).max_width for value in frame[column]), column
    assert set(frame["Call to Action"]) <= set(META_CALLS_TO_ACTION.values())


@pytest.fixture
def production():
    return make_model_version(7, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def catalog(production):
    """Three garden products with sets, one without, one kitchen product, and an older version's set."""
    products = [
        make_product(
            f"GDN-{number}",
            title=f"Garden Tool {number}",
            category="Garden",
            brand="Sprout Lane" if number < 3 else "Rootwise",
            url=f"https://shop.example.com/garden-{number}",
        )
        for number in (1, 2, 3)
    ]
    for product in products:
        make_creative(product, production, "bold")
        make_asset_set(product, production, "google_search", google_assets(product.title))
        make_asset_set(product, production, "meta_feed", meta_assets(product.title))
    no_set = make_product("GDN-9", title="Garden Tool 9", category="Garden")
    make_creative(no_set, production, "bold")
    kettle = make_product("KIT-1", title="Copper Kettle", category="Kitchen", brand="Hearthly")
    make_creative(kettle, production, "bold")
    make_asset_set(kettle, production, "google_search", google_assets("Copper Kettle"))
    older = make_model_version(6, status=ModelVersion.Status.ARCHIVED)
    make_asset_set(no_set, older, "google_search", google_assets("Old set"))
    return products


def test_google_ads_export_follows_the_filter_with_default_names(marketer_client, catalog):
    response = marketer_client.get(AD_EXPORT_URL, {"category": "Garden", "platform": "google_ads"})

    frame = read_export(response)
    assert response["Content-Disposition"].startswith(
        'attachment; filename="google-ads-creative-generator-v7-'
    )
    assert list(frame.columns) == list(GOOGLE_ADS_COLUMNS)
    assert len(GOOGLE_ADS_COLUMNS) == 24
    # One row per product with a set: GDN-9 has none of this version, KIT-1 is filtered out.
    assert list(frame["Final URL"]) == [f"https://shop.example.com/garden-{number}" for number in (1, 2, 3)]
    assert list(frame["Campaign"]) == ["Garden"] * 3
    assert list(frame["Ad group"]) == ["Sprout Lane", "Sprout Lane", "Rootwise"]
    first = frame.iloc[0]
    assets = google_assets("Garden Tool 1")
    assert [first[f"Headline {n}"] for n in range(1, 9)] == assets["headline"]
    assert [first[f"Headline {n}"] for n in range(9, 16)] == [""] * 7  # blank, not "nan"
    assert [first[f"Description {n}"] for n in range(1, 5)] == [*assets["description"], ""]
    assert (first["Path 1"], first["Path 2"]) == ("Garden", "Garden Tool 1")
    assert_google_cells_within_limits(frame)


def test_campaign_and_ad_group_names_are_editable(marketer_client, catalog):
    response = marketer_client.get(
        AD_EXPORT_URL,
        {
            "brand": "sprout lane",
            "platform": "google_ads",
            "campaign": "Shop – {category}",
            "ad_group": "{brand} {sku}",
        },
    )

    frame = read_export(response)
    assert list(frame["Campaign"]) == ["Shop – Garden", "Shop – Garden"]
    assert list(frame["Ad group"]) == ["Sprout Lane GDN-1", "Sprout Lane GDN-2"]


def test_plain_text_names_and_empty_fields_for_the_defaults(marketer_client, catalog):
    frame = read_export(
        marketer_client.get(
            AD_EXPORT_URL,
            {"category": "Garden", "platform": "google_ads", "campaign": "Spring sale", "ad_group": ""},
        )
    )

    assert list(frame["Campaign"]) == ["Spring sale"] * 3
    assert list(frame["Ad group"]) == ["Sprout Lane", "Sprout Lane", "Rootwise"]


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ("{title}", "Campaign has {title}; the placeholders are {category}, {brand}, {sku}."),
        ("Sale {category", "Campaign has a brace without its pair"),
        ("{brand:>300}", "Campaign has {brand:&gt;300}; the placeholders are"),
        ("x" * 200 + " {category}", "can make names of 265 characters"),
    ],
)
def test_a_name_google_would_refuse_is_refused_on_the_page(marketer_client, catalog, campaign, message):
    response = marketer_client.get(
        AD_EXPORT_URL, {"category": "Garden", "platform": "google_ads", "campaign": campaign}
    )

    assert response.status_code == 400
    assert response.templates[0].name == "creatives/list.html"
    assert message in response.content.decode()
    assert "The export was not written: correct the fields marked below." in page_text(response)
    # The list below still shows the filtered rows, and the form keeps the filter.
    assert b'<input type="hidden" name="category" value="Garden">' in response.content


def test_meta_export_pairs_the_sets_texts_by_place(marketer_client, catalog):
    frame = read_export(marketer_client.get(AD_EXPORT_URL, {"category": "Garden", "platform": "meta"}))

    assert list(frame.columns) == list(META_COLUMNS)
    assert len(frame) == 6  # three products, two texts each
    assert list(frame.iloc[1]) == [
        "Garden Tool 1 headline 2",
        "Garden Tool 1: primary text 2.",
        "Link 2",
        "SHOP_NOW",
        "https://shop.example.com/garden-1",
    ]
    assert_meta_cells_within_limits(frame)


def test_meta_buttons_become_metas_api_values(marketer_client, production):
    product = make_product("TOY-1", title="Kite", category="Toys")
    make_asset_set(product, production, "meta_feed", {**meta_assets("Kite", texts=3), "cta": ["Learn more"]})
    make_asset_set(
        make_product("TOY-2", title="Yo-yo", category="Toys"),
        production,
        "meta_feed",
        {"primary_text": ["Spin it."], "headline": [], "cta": ["Not a button"]},
    )

    frame = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "meta", "category": "Toys"}))

    assert list(frame["Call to Action"]) == ["LEARN_MORE"] * 3 + [""]
    assert list(frame.iloc[3])[:3] == ["", "Spin it.", ""]


def test_cjk_and_emoji_text_is_exported_as_written_and_within_limits(marketer_client, production):
    product = make_product("JP-1", title="銅のケトル", category="キッチン", brand="ヒアスリー")
    headlines = [
        "銅のケトル、三分で沸く",
        "すぐ沸く ☕ 銅のケトル",
        "ヒアスリーの銅ケトル",
        "Copper kettle 🔥 fast",
    ]
    make_asset_set(
        product,
        production,
        "google_search",
        {
            "headline": headlines,
            "description": ["三分で1.7 Lを沸かす銅のケトル。"],
            "path": ["キッチン", "ケトル"],
        },
    )
    make_asset_set(
        product,
        production,
        "meta_feed",
        {
            "primary_text": ["銅のケトル ☕ 三分で沸きます。"],
            "headline": ["ヒアスリーの銅ケトル"],
            "cta": ["Buy now"],
        },
    )

    google = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "google_ads"}))
    meta = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "meta"}))

    assert [google.iloc[0][f"Headline {n}"] for n in range(1, 5)] == headlines
    assert (google.iloc[0]["Campaign"], google.iloc[0]["Ad group"]) == ("キッチン", "ヒアスリー")
    assert (google.iloc[0]["Path 1"], google.iloc[0]["Path 2"]) == ("キッチン", "ケトル")
    assert_google_cells_within_limits(google)
    assert list(meta.iloc[0]) == ["ヒアスリーの銅ケトル", "銅のケトル ☕ 三分で沸きます。", "", "BUY_NOW", ""]
    assert_meta_cells_within_limits(meta)


def test_values_over_the_limit_are_left_out(marketer_client, production):
    """Decoding never writes one; if a stored set has one, the row still imports."""
    product = make_product("GDN-5", title="Rake", category="Garden")
    make_asset_set(
        product,
        production,
        "google_search",
        {
            "headline": ["Rake", "銅" * 16, "Strong Rake"],
            "description": ["x" * 91, "Fine."],
            "path": ["garden"],
        },
    )

    row = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "google_ads"})).iloc[0]

    assert [row["Headline 1"], row["Headline 2"], row["Headline 3"]] == ["Rake", "Strong Rake", ""]
    assert [row["Description 1"], row["Description 2"]] == ["Fine.", ""]


def test_ad_text_is_unchanged_and_only_formula_cells_are_neutralised(marketer_client, production):
    product = make_product("GDN-6", title="Hose", category="Garden", brand="=HYPERLINK(1)")
    headlines = [
        'The "Flexi" Hose, 20 m',
        "'Tis the Season to Water",
        "Hose; Reel & Nozzle",
        "@home Garden",
        "-20% Hose",
    ]
    make_asset_set(
        product,
        production,
        "google_search",
        {"headline": headlines, "description": ["Water, 20 m away."], "path": []},
    )

    row = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "google_ads"})).iloc[0]

    assert [row[f"Headline {n}"] for n in range(1, 4)] == headlines[
        :3
    ]  # quotes, apostrophes, commas as written
    assert [row["Headline 4"], row["Headline 5"]] == ["'@home Garden", "'-20% Hose"]
    assert row["Ad group"] == "'=HYPERLINK(1)"


def test_search_and_version_filters_choose_the_products(marketer_client, catalog, production):
    frame = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "google_ads", "q": "Copper"}))
    assert list(frame["Final URL"]) == [""]  # the kettle: it has no URL
    assert list(frame["Headline 1"]) == ["Copper Kettle no. 1"]

    older = read_export(marketer_client.get(AD_EXPORT_URL, {"platform": "google_ads", "version": "6"}))
    assert list(older["Headline 1"]) == ["Old set no. 1"]


def test_the_list_page_offers_the_export_with_its_filters(marketer_client, catalog):
    response = marketer_client.get(LIST_URL, {"category": "Garden", "brand": "Rootwise", "page": "1"})

    content = response.content.decode()
    assert f'action="{AD_EXPORT_URL}"' in content
    assert '<input type="hidden" name="category" value="Garden">' in content
    assert '<input type="hidden" name="brand" value="Rootwise">' in content
    assert 'name="page"' not in content.split(f'action="{AD_EXPORT_URL}"')[1].split("</form>")[0]
    assert 'value="{category}"' in content and 'value="{brand}"' in content
    assert "Google Ads Editor: responsive search ads" in page_text(response)


def test_anonymous_visitors_log_in_and_users_without_the_permission_are_refused(client, catalog):
    anonymous = client.get(AD_EXPORT_URL, {"platform": "google_ads"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")

    client.force_login(make_user("no-creatives", is_staff=False))
    assert client.get(AD_EXPORT_URL, {"platform": "google_ads"}).status_code == 403


def test_without_a_production_model_the_export_says_how_to_choose_a_version(marketer_client):
    make_model_version(1, status=ModelVersion.Status.ARCHIVED)

    response = marketer_client.get(AD_EXPORT_URL, {"platform": "meta"})

    assert response.status_code == 409
    assert b"No model is in production yet" in response.content


def test_an_unknown_format_is_refused(marketer_client, catalog):
    response = marketer_client.get(AD_EXPORT_URL, {"platform": "tiktok"})

    assert response.status_code == 400
    assert "Select a valid choice. tiktok is not one of the available choices." in page_text(response)
