"""GET /api/v1/exports/google_ads and /api/v1/exports/meta: the files /creatives/ exports, for API
clients with a token, filtered by category and brand, documented in the schema."""

from __future__ import annotations

import io

import pandas
import pytest
from rest_framework.test import APIClient

from inference.services.ad_exports import GOOGLE_ADS_COLUMNS, META_COLUMNS
from registry.models import ModelVersion
from tests.pages.builders import google_assets, make_asset_set, make_model_version, make_product, meta_assets
from training.ml.channels import CHANNELS, display_width

pytestmark = pytest.mark.django_db

GOOGLE_URL = "/api/v1/exports/google_ads"
META_URL = "/api/v1/exports/meta"


def read_export(response) -> pandas.DataFrame:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode("utf-8")
    return pandas.read_csv(io.StringIO(content), keep_default_na=False, dtype=str)


@pytest.fixture
def production():
    return make_model_version(2, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def catalog(production):
    for sku, category, brand in (
        ("GDN-1", "Garden", "Sprout Lane"),
        ("GDN-2", "Garden", "Rootwise"),
        ("KIT-1", "Kitchen", "Hearthly"),
    ):
        product = make_product(
            sku, title=f"{brand} {sku}", category=category, brand=brand, url=f"https://shop.example.com/{sku}"
        )
        make_asset_set(product, production, "google_search", google_assets(product.title))
        make_asset_set(product, production, "meta_feed", meta_assets(product.title, texts=1))


def test_exports_need_a_token(catalog):
    for url in (GOOGLE_URL, META_URL):
        response = APIClient().get(url)

        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Authentication credentials were not provided."


def test_google_ads_export_for_a_category_with_edited_names(api, catalog):
    response = api.get(
        GOOGLE_URL, {"category": "Garden", "campaign": "Garden – {brand}", "ad_group": "{sku}"}
    )

    frame = read_export(response)
    assert response["Content-Disposition"].startswith(
        'attachment; filename="google-ads-creative-generator-v2-'
    )
    assert list(frame.columns) == list(GOOGLE_ADS_COLUMNS)
    assert list(frame["Campaign"]) == ["Garden – Rootwise", "Garden – Sprout Lane"]  # by title
    assert list(frame["Ad group"]) == ["GDN-2", "GDN-1"]
    assert list(frame["Final URL"]) == ["https://shop.example.com/GDN-2", "https://shop.example.com/GDN-1"]
    headline_limit = CHANNELS["google_search"].field("headline").max_width
    assert all(display_width(frame.iloc[0][f"Headline {n}"]) <= headline_limit for n in range(1, 16))


def test_google_ads_export_defaults_to_category_and_brand(api, catalog):
    frame = read_export(api.get(GOOGLE_URL, {"campaign": ""}))

    assert list(zip(frame["Campaign"], frame["Ad group"], strict=True)) == [
        ("Kitchen", "Hearthly"),
        ("Garden", "Rootwise"),
        ("Garden", "Sprout Lane"),
    ]


def test_meta_export_for_a_brand_whatever_its_case(api, catalog):
    frame = read_export(api.get(META_URL, {"brand": "HEARTHLY"}, HTTP_ACCEPT="text/csv"))

    assert list(frame.columns) == list(META_COLUMNS)
    assert frame.to_dict("records") == [
        {
            "Title": "Hearthly KIT-1 headline 1",
            "Body": "Hearthly KIT-1: primary text 1.",
            "Link Description": "Link 1",
            "Call to Action": "SHOP_NOW",
            "Link": "https://shop.example.com/KIT-1",
        }
    ]


def test_an_invalid_name_is_a_400_naming_the_field(api, catalog):
    response = api.get(GOOGLE_URL, {"ad_group": "{title}"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "ad_group"
    assert (
        error["message"] == "ad_group: Ad group has {title}; the placeholders are {category}, {brand}, {sku}."
    )


def test_without_a_production_model_the_export_is_a_409(api):
    make_model_version(1, status=ModelVersion.Status.ARCHIVED)

    response = api.get(META_URL, HTTP_ACCEPT="text/csv")

    assert response.status_code == 409
    assert response.json() == {
        "error": {"message": "No model is in production yet, so there are no ad assets to export."}
    }


def test_exports_are_documented(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    google = schema["paths"][GOOGLE_URL]["get"]
    meta = schema["paths"][META_URL]["get"]
    assert (google["operationId"], meta["operationId"]) == ("export_google_ads", "export_meta")
    assert list(google["responses"]["200"]["content"]) == ["text/csv"]
    assert {"400", "401", "409", "429"} <= set(google["responses"])
    assert {parameter["name"] for parameter in google["parameters"]} == {
        "category",
        "brand",
        "campaign",
        "ad_group",
    }
    assert {parameter["name"] for parameter in meta["parameters"]} == {"category", "brand"}
    assert ", ".join(GOOGLE_ADS_COLUMNS) in google["responses"]["200"]["description"]
