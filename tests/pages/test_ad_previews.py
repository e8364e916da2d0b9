"""The product page shows the production model's asset sets as the ads would look: a Google search
result and a Meta feed card, every text with its counter against the channel's limit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import ModelVersion
from tests.pages.builders import (
    make_asset_set,
    make_model_version,
    make_product,
    page_text,
)

pytestmark = pytest.mark.django_db


def product_url(sku: str) -> str:
    return reverse("creatives:product", kwargs={"sku": sku})


@pytest.fixture
def production():
    return make_model_version(5, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def kettle():
    return make_product(
        "KIT-1",
        title="Copper Kettle",
        category="Home & Kitchen",
        brand="Hearthly",
        url="https://shop.example.com/products/copper-kettle?ref=ads",
    )


GOOGLE = {
    "headline": [
        "Hearthly Copper Kettle",  # 22
        "Boils in Three Minutes",  # 22
        "Order the Kettle Today",  # 22
        "Copper That Keeps Heat",
        "A Kettle for Every Hob",
        "Quiet Rolling Boil",
        "Hearthly Kitchenware",
        "Pour Without Drips",
    ],
    "description": [
        "A copper kettle that boils 1.7 L in three minutes and keeps tea hot.",  # 68
        "Hearthly copper: even heat on gas, electric and induction hobs.",
        "Order the Copper Kettle from Hearthly today.",
    ],
    "path": ["Home-Kitchen", "Copper-Kettle"],
}
META = {
    "primary_text": ["Hearthly's copper kettle boils 1.7 L in three minutes."],  # 54
    "headline": ["Meet the Copper Kettle"],  # 22
    "link_description": ["Even heat, every hob"],  # 20
    "cta": ["Shop now"],
}


def test_previews_show_both_ads_with_counters(marketer_client, production, kettle):
    make_asset_set(kettle, production, "google_search", GOOGLE)
    make_asset_set(kettle, production, "meta_feed", META)

    response = marketer_client.get(product_url("KIT-1"))

    assert response.status_code == 200
    text = page_text(response)
    # The search result: three headlines, the display URL (host + the two paths), the first description.
    assert (
        "Hearthly Copper Kettle 22/30 characters | Boils in Three Minutes 22/30 characters | "
        "Order the Kettle Today 22/30 characters"
    ) in text
    assert "shop.example.com /Home-Kitchen 12/15 characters /Copper-Kettle 13/15 characters" in text
    assert f"{GOOGLE['description'][0]} 68/90 characters" in text
    # The feed card: primary text, image placeholder, domain, headline, link description, button.
    assert f"{META['primary_text'][0]} 54/125 characters" in text
    assert 'aria-label="Image placeholder: the product photo goes here"' in response.content.decode()
    assert (
        "SHOP.EXAMPLE.COM Meet the Copper Kettle 22/40 characters Even heat, every hob 20/30 characters"
        in text
    )
    assert "Shop now" in text
    # The full lists: every asset with its counter.
    for headline in GOOGLE["headline"][3:]:
        assert f"{headline} {len(headline)}/30 characters" in text
    for description in GOOGLE["description"]:
        assert f"{description} {len(description)}/90 characters" in text
    assert "Headline · 8, at most 30 characters each" in text
    assert "Incomplete set" not in text


def test_no_asset_set_yet_says_when_it_comes(marketer_client, production, kettle):
    older = make_model_version(4, status=ModelVersion.Status.ARCHIVED)
    make_asset_set(kettle, older, "google_search", GOOGLE)  # an earlier version's set is not shown

    response = marketer_client.get(product_url("KIT-1"))

    text = page_text(response)
    assert (
        "No Google Ads / Microsoft Advertising responsive search ad assets for this product yet: the "
        "production model writes them after the next refresh."
    ) in text
    assert "No Meta (Facebook / Instagram) feed ad assets for this product yet" in text
    assert GOOGLE["headline"][0] not in text


def test_without_a_production_model_there_are_no_previews(marketer_client, kettle):
    archived = make_model_version(2, status=ModelVersion.Status.ARCHIVED)
    make_asset_set(kettle, archived, "google_search", GOOGLE)

    response = marketer_client.get(product_url("KIT-1"))

    assert "Ad previews appear once an operator promotes a model." in page_text(response)


def test_wide_characters_count_two_as_the_platforms_count_them(marketer_client, production):
    product = make_product(
        "JP-1", title="銅のケトル", brand="ヒアスリー", url="https://shop.example.jp/kettle"
    )
    make_asset_set(
        product,
        production,
        "google_search",
        {
            "headline": ["銅のケトル", "すぐ沸く ☕", "Copper 銅"],
            "description": ["三分で沸きます。"],
            "path": [],
        },
    )

    text = page_text(marketer_client.get(product_url("JP-1")))

    # 5 CJK characters = 10 columns; "すぐ沸く ☕": 4 wide + a space + a wide emoji = 11.
    assert "銅のケトル 10/30 characters | すぐ沸く ☕ 11/30 characters | Copper 銅 9/30 characters" in text
    assert "三分で沸きます。 16/90 characters" in text
    # No paths: the display URL is the host alone; the set's counts are checked against the channel.
    assert "shop.example.jp Copper 銅" not in text
    assert "takes 2–4 × description per ad; this one has 1." in text


def test_lint_findings_problems_and_over_limit_values_are_marked(marketer_client, production, kettle):
    finding = {
        "code": "superlative",
        "field": "headline",
        "text": "Best",
        "message": '"Best" is a claim the product\'s data does not back.',
    }
    too_long = "A headline that is far longer than thirty"
    make_asset_set(
        kettle,
        production,
        "google_search",
        {**GOOGLE, "headline": ["Best Copper Kettle", too_long, *GOOGLE["headline"][2:]]},
        lint=[finding],
        problems=["7 distinct headlines, fewer than 8"],
    )

    response = marketer_client.get(product_url("KIT-1"))

    text = page_text(response)
    content = response.content.decode()
    assert "1 policy finding" in text  # the set's badge, as a creative's
    assert 'Best Copper Kettle 18/30 characters policy finding: "Best" is a claim' in text
    assert f"{too_long} 41/30 characters, over the limit" in text
    assert 'class="char-counter is-over"' in content
    assert "Incomplete set: 7 distinct headlines, fewer than 8" in text
    assert "Policy findings" in text


def test_previews_use_only_the_pages_static_stylesheet(marketer_client, production, kettle):
    """The CSP allows only 'self' scripts: the previews are HTML and CSS from static files."""
    make_asset_set(kettle, production, "google_search", GOOGLE)
    make_asset_set(kettle, production, "meta_feed", META)

    content = marketer_client.get(product_url("KIT-1")).content.decode()

    assert "<script>" not in content
    assert 'style="' not in content
