"""`channel` on predict and batch_predict: every output within the channel's limits, whatever the
input, the creative as the channel's fields, and only generic creatives stored."""

from __future__ import annotations

import pytest

from inference.models import Creative, PredictionLog
from tests.factories.products import ProductFactory
from training.ml.channels import CHANNELS, META_CALLS_TO_ACTION, display_paths, display_width
from training.ml.formatting import product_noun

pytestmark = pytest.mark.django_db

PREDICT = "/api/v1/predict"
BATCH = "/api/v1/batch_predict"
ITEM = {
    "title": "Ridgeway Ripstop Nylon Backpack 30 L",
    "description": "The Ridgeway backpack is made from ripstop nylon and sheds rain. 30 L, 3-year warranty.",
    "category": "outdoor",
    "brand": "Ridgeway",
    "price": 89.99,
}
# Inputs that push a creative past a limit if anything can: the longest title allowed, words longer
# than any limit, double-width scripts, emoji, a price with every digit a stored price can hold.
HOSTILE_ITEMS = [
    {
        "title": ("Ridgeway Ultralight Waterproof Ripstop Nylon Hiking Backpack " * 4)[:200],
        "description": "Ridgeway " * 200,
        "category": "Outdoor Gear and Hiking Equipment",
        "brand": "Ridgeway Mountain Equipment Company",
        "price": 12345678.99,
    },
    {
        "title": "Supercalifragilisticexpialidociouslywaterproofbackpack" * 3,
        "description": "Pneumonoultramicroscopicsilicovolcanoconiosisresistantfabric " * 5,
        "category": "Antidisestablishmentarianismcategory",
        "brand": "Hyperextraordinarilylongbrandnamewithoutspaces",
        "price": 99999999.99,
    },
    {
        "title": "山岳用防水リュックサック 三十リットル 超軽量モデル 登山 ハイキング 旅行",
        "description": "高密度ナイロン製の防水リュックサック。容量三十リットル、重さ八百グラム。" * 4,
        "category": "アウトドア用品",
        "brand": "山岳工房",
        "price": 18800,
    },
    {
        "title": "🎒🔥 Backpack 🌧️☔️ 30 L 🏔️🏔️🏔️ Trail Edition 🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀",
        "description": "🌧️ Sheds rain. 💪 Ripstop. 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉 " * 6,
        "category": "🏕️ outdoor",
        "brand": "Ｒｉｄｇｅｗａｙ　全角",
        "price": 0.01,
    },
    ITEM,
]


def assert_within_channel(channel_name: str, creative: dict) -> None:
    """The model's outputs keep the channel's limits, and its `ad` is the channel's fields."""
    channel = CHANNELS[channel_name]
    for output, limit in channel.output_limits().items():
        if limit is not None:
            assert channel.width(creative[output]) <= limit, (channel_name, output, creative[output])
    ad = creative["ad"]
    assert set(ad) <= {field.name for field in channel.fields}
    for name, values in ad.items():
        field = channel.field(name)
        assert all(isinstance(value, str) and value for value in values)
        if field.max_width is not None:
            assert all(display_width(value) <= field.max_width for value in values), (name, values)
        if field.choices:
            assert all(value in field.choices for value in values)
    for output, name in channel.outputs:
        if creative[output]:
            assert creative[output] in ad[name], (output, name, ad)
    assert len(ad.get("path", [])) <= 2


@pytest.mark.parametrize("channel", ["generic", "google_search", "meta_feed"])
def test_every_creative_keeps_the_channels_limits_on_hostile_inputs(api, production_model, channel):
    response = api.post(BATCH, {"items": HOSTILE_ITEMS, "channel": channel, "num_variants": 2}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["channel"] == channel
    for result in body["results"]:
        assert len(result["creatives"]) == 2
        for creative in result["creatives"]:
            assert_within_channel(channel, creative)


def test_a_search_ad_carries_the_products_display_paths_and_a_meta_ad_a_button(api, production_model):
    search = api.post(PREDICT, {**ITEM, "channel": "google_search"}, format="json").json()
    meta = api.post(PREDICT, {**ITEM, "channel": "meta_feed", "tone": "value"}, format="json").json()

    noun = product_noun(ITEM["title"], ITEM["brand"], ITEM["description"])
    assert search["channel"] == "google_search"
    assert search["creatives"][0]["ad"]["path"] == display_paths(ITEM["category"], noun)
    assert meta["channel"] == "meta_feed"
    assert meta["creatives"][0]["ad"]["cta"] == ["Buy now"]  # Meta's button for the value tone
    assert "Buy now" in META_CALLS_TO_ACTION
    for body in (search, meta):
        assert_within_channel(body["channel"], body["creatives"][0])


def test_predict_defaults_to_the_generic_channel(api, production_model):
    response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["channel"] == "generic"
    assert_within_channel("generic", body["creatives"][0])


@pytest.mark.parametrize("channel", ["google_search", "meta_feed"])
def test_only_generic_creatives_of_a_product_are_stored(api, production_model, channel):
    product = ProductFactory()

    other = api.post(PREDICT, {"sku": product.sku, "channel": channel}, format="json")
    generic = api.post(PREDICT, {"sku": product.sku}, format="json")

    assert (other.status_code, generic.status_code) == (200, 200)
    assert list(Creative.objects.values_list("product", "tone")) == [(product.pk, "bold")]
    assert PredictionLog.objects.count() == 2  # both requests are drift samples
    assert_within_channel(channel, other.json()["creatives"][0])


def test_a_batch_of_stored_products_for_a_channel_stores_nothing(api, production_model):
    product = ProductFactory()

    response = api.post(BATCH, {"items": [{"sku": product.sku}, ITEM], "channel": "meta_feed"}, format="json")

    assert response.status_code == 200, response.content
    assert not Creative.objects.exists()
    assert PredictionLog.objects.filter(endpoint="batch_predict").count() == 2


UNKNOWN_CHANNEL = 'channel: Unknown channel "tiktok"; allowed channels: generic, google_search, meta_feed.'


@pytest.mark.parametrize("url", [PREDICT, BATCH])
def test_an_unknown_channel_is_a_400_naming_the_field_and_the_allowed_ones(api, production_model, url):
    payload = {**ITEM, "channel": "tiktok"} if url == PREDICT else {"items": [ITEM], "channel": "tiktok"}

    response = api.post(url, payload, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["field"]) == (UNKNOWN_CHANNEL, "channel")
    assert not PredictionLog.objects.exists()


def test_a_channel_of_a_batch_item_is_refused_with_that_item(api, production_model):
    """The channel is the batch's: an item naming one is refused alone, as any unknown field."""
    response = api.post(BATCH, {"items": [{**ITEM, "channel": "meta_feed"}, ITEM]}, format="json")

    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["error"]["field"] == "channel"
    assert "creatives" in second
