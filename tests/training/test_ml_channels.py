"""The channel registry: limits as the platforms state them, characters counted as they count them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.ml.channels import (
    CHANNELS,
    DEFAULT_CHANNEL,
    META_CALLS_TO_ACTION,
    channel_get,
    count_check,
    display_width,
    field_check,
)
from training.ml.findings import Finding


def _is_double(character: str) -> bool:
    return unicodedata.east_asian_width(character) in ("W", "F")


@given(st.text())
def test_display_width_counts_each_character_once_or_twice(text):
    doubles = sum(map(_is_double, text))

    assert display_width(text) == len(text) + doubles
    assert len(text) <= display_width(text) <= 2 * len(text)


@given(st.text(), st.text())
def test_display_width_adds_up_over_concatenation(first, second):
    assert display_width(first + second) == display_width(first) + display_width(second)


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_ascii_counts_one_per_character(text):
    assert display_width(text) == len(text)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1))
def test_cjk_ideographs_count_two(text):
    assert display_width(text) == 2 * len(text)


def test_display_width_of_known_strings():
    assert display_width("Kettle") == 6
    assert display_width("電気ケトル") == 10
    assert display_width("ＡＢＣ") == 6  # full-width Latin
    assert display_width("ｶﾀｶﾅ") == 4  # half-width katakana counts one
    assert display_width("café") == 4


def test_the_registry_holds_the_platforms_limits():
    assert set(CHANNELS) == {"generic", "google_search", "meta_feed"}
    assert DEFAULT_CHANNEL == "generic"
    google = channel_get("google_search")
    assert (google.field("headline").max_width, google.field("headline").min_count) == (30, 3)
    assert google.field("headline").max_count == 15
    assert (google.field("description").max_width, google.field("description").min_count) == (90, 2)
    assert google.field("description").max_count == 4
    assert (google.field("path").max_width, google.field("path").max_count) == (15, 2)
    meta = channel_get("meta_feed")
    assert meta.field("headline").max_width == 40
    assert meta.field("primary_text").max_width == 125
    assert meta.field("link_description").max_width == 30
    assert meta.field("cta").choices[:2] == ("Shop now", "Learn more")
    assert len(META_CALLS_TO_ACTION) == 12


def test_generic_keeps_todays_limits_in_plain_characters():
    from inference.models import Creative

    generic = channel_get("generic")
    assert generic.field("headline").max_width == Creative._meta.get_field("headline").max_length
    assert generic.field("cta").max_width == Creative._meta.get_field("cta").max_length
    assert generic.field("body").max_width is None
    assert generic.width("電気") == 2


def test_unknown_channel_names_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r'Unknown channel "tiktok"; allowed channels: generic, google_search, meta_feed\.'
    ):
        channel_get("tiktok")


def test_unknown_field_names_the_channels_fields():
    with pytest.raises(
        ValueError, match='google_search has no field "body"; its fields: headline, description, path'
    ):
        channel_get("google_search").field("body")


def test_field_check_passes_a_value_at_the_limit_and_fails_one_over():
    google = channel_get("google_search")

    assert field_check(google, "headline", "x" * 30) is None
    finding = field_check(google, "headline", "x" * 31)

    assert finding == Finding(
        code="over_limit",
        field="headline",
        text="x" * 31,
        message=(
            "Headline is 31 characters long; Google Ads / Microsoft Advertising responsive search ad "
            "allows 30: shorten it by 1."
        ),
    )


def test_field_check_counts_double_width_characters_twice():
    google = channel_get("google_search")

    assert field_check(google, "headline", "電" * 15) is None
    assert field_check(google, "headline", "電" * 16).code == "over_limit"
    assert field_check(channel_get("generic"), "headline", "電" * 200) is None


def test_field_check_accepts_only_metas_buttons():
    meta = channel_get("meta_feed")

    assert field_check(meta, "cta", "Shop now") is None
    finding = field_check(meta, "cta", "Grab yours")
    assert finding.code == "not_a_choice"
    assert "Shop now, Learn more" in finding.message


def test_field_check_has_no_limit_where_the_channel_sets_none():
    assert field_check(channel_get("generic"), "body", "word " * 1000) is None


def test_count_check_says_how_many_the_channel_takes():
    google = channel_get("google_search")

    assert count_check(google, "headline", 3) is None
    assert count_check(google, "headline", 15) is None
    assert count_check(google, "path", 0) is None
    finding = count_check(google, "headline", 2)
    assert (finding.code, finding.text) == ("wrong_count", "2")
    assert "takes 3–15 × headline per ad; this one has 2" in finding.message


def test_describe_lists_every_field_with_its_limits():
    described = channel_get("meta_feed").describe()

    assert described["name"] == "meta_feed"
    assert [field["name"] for field in described["fields"]] == [
        "primary_text",
        "headline",
        "link_description",
        "cta",
    ]
    assert described["fields"][3]["choices"] == list(META_CALLS_TO_ACTION)
