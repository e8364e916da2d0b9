"""Asset sets built from a product's creatives, display paths and the channel mapping (no model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.ml.asset_sets import (
    GOOGLE_MAX_DESCRIPTIONS,
    GOOGLE_MAX_HEADLINES,
    asset_set_build,
    asset_set_problems,
    normalise,
)
from training.ml.channels import CHANNELS, channel_ad, display_paths, field_check, meta_button

GOOGLE, META = CHANNELS["google_search"], CHANNELS["meta_feed"]
ITEM = {
    "title": "Acme Electric Kettle, 1.7 L, Stainless Steel",
    "brand": "Acme",
    "category": "Home & Kitchen",
    "price": 49.99,
    "description": "A 1.7 L kettle in brushed steel. It boils in three minutes. Auto shut-off keeps it safe.",
}


def _creative(tone, headline, body, cta):
    return {"tone": tone, "headline": headline, "body": body, "cta": cta}


def test_a_google_set_counts_duplicates_once_and_completes_from_the_products_own_facts():
    creatives = [
        _creative("bold", "Meet the Acme Kettle", "Boils in three minutes.", "Order the Kettle Today"),
        _creative("luxury", "meet the acme kettle!", "Boils in three minutes!", "Order the kettle today."),
        _creative("value", "Acme Kettle for Less", "Brushed steel, 1.7 L.", "Shop Acme Kettles"),
        _creative("playful", "Tea Time, Sorted", "", ""),
    ]
    built = asset_set_build(GOOGLE, ITEM, creatives)
    assert built.written == 7 and built.distinct_written == 5
    keys = [normalise(headline) for headline in built.headlines]
    assert len(keys) == len(set(keys)) and 8 <= len(built.headlines) <= GOOGLE_MAX_HEADLINES
    assert len(built.descriptions) <= GOOGLE_MAX_DESCRIPTIONS
    assert len({normalise(text) for text in built.descriptions}) == len(built.descriptions) >= 3
    # what the set added is the product's own: its brand and noun, its title cut by words, its sentences
    added = built.headlines[5:]
    assert all(
        set(normalise(text).split()) <= set(normalise(ITEM["title"] + " shop").split()) for text in added
    )
    assert set(built.descriptions[2:]) <= {"A 1.7 L kettle in brushed steel.", "It boils in three minutes.",
                                           "Auto shut-off keeps it safe."}  # fmt: skip
    assert built.paths == ["Home-Kitchen", "Electric-Kettle"]
    assert asset_set_problems(built, ITEM) == []
    for name, values in built.assets.items():
        assert all(field_check(GOOGLE, name, value) is None for value in values)


def test_a_set_always_names_the_brand_or_product_first_when_the_model_did_not():
    creatives = [
        _creative(tone, f"Tea Time {tone}", "Calm mornings.", "Order Today") for tone in ("bold", "value")
    ]
    built = asset_set_build(GOOGLE, ITEM, creatives)
    assert normalise(built.headlines[0]) == "acme electric kettle"


def test_problems_say_what_a_set_lacks():
    bare = {"title": "Widget", "brand": "", "category": "", "description": ""}
    built = asset_set_build(GOOGLE, bare, [_creative("bold", "Widget", "", "")])
    problems = asset_set_problems(built, bare)
    assert any("fewer than 8" in problem for problem in problems)
    assert any("descriptions, fewer than 3" in problem for problem in problems)
    assert any("display paths" in problem for problem in problems)


@given(
    st.lists(st.text(min_size=0, max_size=60), min_size=1, max_size=8),
    st.text(max_size=80),
    st.text(max_size=300),
)
def test_fact_assets_keep_to_the_limits_for_any_product(texts, title, description):
    """Whatever the product (CJK, emoji, long words), what the set adds fits; what the model wrote is
    kept as written (decoding already kept it within the limits)."""
    item = {"title": title, "brand": title[:12], "category": title[-20:], "description": description}
    creatives = [_creative("bold", "", "", "")]
    built = asset_set_build(GOOGLE, item, creatives)
    for name, values in built.assets.items():
        assert all(field_check(GOOGLE, name, value) is None for value in values), (name, values)


def test_a_meta_set_keeps_distinct_texts_and_one_button():
    creatives = [
        _creative("bold", "The Acme Kettle", "Tea in three minutes.", "Acme Kettle, $49.99"),
        _creative("value", "The Acme Kettle", "Brushed steel.", "Only $49.99"),
    ]
    built = asset_set_build(META, ITEM, creatives)
    assert built.assets == {
        "headline": ["The Acme Kettle"],
        "primary_text": ["Tea in three minutes.", "Brushed steel."],
        "link_description": ["Acme Kettle, $49.99", "Only $49.99"],
        "cta": ["Shop now"],
    }
    with pytest.raises(ValueError, match="has no asset sets"):
        asset_set_build(CHANNELS["generic"], ITEM, creatives)


def test_the_channel_mapping_of_the_models_outputs():
    assert GOOGLE.output_limits() == {"headline": 30, "body": 90, "cta": 30}
    assert META.output_limits() == {"headline": 40, "body": 125, "cta": 30}
    creative = _creative("luxury", "H", "B", "C")
    assert channel_ad(GOOGLE, creative, ["A", "B"]) == {
        "headline": ["H", "C"],
        "description": ["B"],
        "path": ["A", "B"],
    }
    assert channel_ad(META, creative, []) == {
        "headline": ["H"], "primary_text": ["B"], "link_description": ["C"], "cta": [meta_button("luxury")]
    }  # fmt: skip
    assert all(
        meta_button(tone) in META.field("cta").choices for tone in ("bold", "luxury", "value", "playful", "?")
    )


@pytest.mark.parametrize(
    ("category", "noun", "paths"),
    [
        ("Home & Kitchen", "electric kettle", ["Home-Kitchen", "Electric-Kettle"]),
        ("Sports & Outdoors", "double wall insulated water bottle", ["Sports-Outdoors", "Water-Bottle"]),
        ("Kitchen", "kitchen", ["Kitchen"]),  # the same path once
        ("", "日本語の商品名です", []),  # 18 columns: no word fits 15
        ("Men's Clothing", "chef's knife", ["Mens-Clothing", "Chefs-Knife"]),
    ],
)
def test_display_paths(category, noun, paths):
    assert display_paths(category, noun) == paths
