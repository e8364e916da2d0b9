"""Asset sets of the production model: POST /api/v1/asset_sets, the service that writes and stores
them, and their admin. Only what the code guarantees for any trained model is asserted: limits,
counts, shapes, distinctness, the stored row; never the generated words."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from creativeops.core.errors import ApplicationError
from inference.models import AssetSet, Creative, PredictionLog
from inference.services.asset_sets import asset_sets_generate
from tests.factories.products import ProductFactory
from tests.inference.test_predict_channels import HOSTILE_ITEMS, ITEM
from training.ml.asset_sets import normalise
from training.ml.channels import CHANNELS, META_CALLS_TO_ACTION, display_width

pytestmark = pytest.mark.django_db

ASSET_SETS = "/api/v1/asset_sets"
GOOGLE_KEYS = {
    "model_name",
    "model_version",
    "channel",
    "headlines",
    "descriptions",
    "paths",
    "lint",
    "problems",
}
META_KEYS = {
    "model_name",
    "model_version",
    "channel",
    "primary_texts",
    "headlines",
    "link_descriptions",
    "ctas",
    "lint",
    "problems",
}
FINDING_KEYS = {"code", "field", "index", "text", "message"}


def _distinct(values: list[str]) -> bool:
    return len({normalise(value) for value in values}) == len(values)


def assert_google_set(body: dict, *, uploadable: bool = True) -> None:
    """The set keeps every limit; `uploadable`: it also has the 3–15 headlines and 2–4 descriptions
    an ad takes (what a product with a brand, a title and a description always gets)."""
    assert set(body) == GOOGLE_KEYS | {"latency_ms"}
    assert body["channel"] == "google_search"
    headlines, descriptions, paths = body["headlines"], body["descriptions"], body["paths"]
    assert len(headlines) <= 15 and _distinct(headlines), headlines
    assert len(descriptions) <= 4 and _distinct(descriptions), descriptions
    if uploadable:
        assert len(headlines) >= 3 and len(descriptions) >= 2, (headlines, descriptions)
    assert len(paths) <= 2
    assert all(display_width(headline) <= 30 for headline in headlines), headlines
    assert all(display_width(description) <= 90 for description in descriptions), descriptions
    assert all(display_width(path) <= 15 for path in paths), paths
    _assert_findings(body["lint"])
    assert all(isinstance(problem, str) and problem for problem in body["problems"])
    # A set short of what a complete one has says so.
    if len(headlines) < 8:
        assert any("headlines, fewer than 8" in problem for problem in body["problems"])
    if len(descriptions) < 3:
        assert any("descriptions, fewer than 3" in problem for problem in body["problems"])
    if len(paths) < 2:
        assert any("display paths, fewer than 2" in problem for problem in body["problems"])


def assert_meta_set(body: dict) -> None:
    assert set(body) == META_KEYS | {"latency_ms"}
    assert body["channel"] == "meta_feed"
    limits = {"primary_texts": 125, "headlines": 40, "link_descriptions": 30}
    for key, limit in limits.items():
        assert len(body[key]) <= 5 and _distinct(body[key]), body[key]
        assert all(display_width(value) <= limit for value in body[key]), body[key]
    assert len(body["ctas"]) == 1 and body["ctas"][0] in META_CALLS_TO_ACTION
    _assert_findings(body["lint"])


def _assert_findings(findings: list[dict]) -> None:
    for finding in findings:
        assert set(finding) == FINDING_KEYS
        assert finding["code"] not in ("over_limit", "not_a_choice")  # decoding keeps every limit


# --- the API ------------------------------------------------------------------------------------


def test_a_search_ad_set_for_free_text_keeps_every_limit_and_is_not_stored(api, production_model):
    response = api.post(ASSET_SETS, ITEM, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == 1
    assert_google_set(body)
    assert not AssetSet.objects.exists()
    assert not Creative.objects.exists()
    log = PredictionLog.objects.get()  # one drift sample for the product, not one per tone
    assert (log.endpoint, log.category) == ("asset_sets", "outdoor")


def test_a_meta_feed_set_has_the_meta_fields(api, production_model):
    response = api.post(ASSET_SETS, {**ITEM, "channel": "meta_feed"}, format="json")

    assert response.status_code == 200, response.content
    assert_meta_set(response.json())


@pytest.mark.parametrize("channel", ["google_search", "meta_feed"])
@pytest.mark.parametrize("item", HOSTILE_ITEMS[:4], ids=["long", "long-words", "cjk", "emoji"])
def test_sets_keep_the_limits_on_hostile_inputs(api, production_model, channel, item):
    response = api.post(ASSET_SETS, {**item, "channel": channel}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    if channel == "meta_feed":
        assert_meta_set(body)
    else:  # a brand or a title too long for any headline can leave a set short: `problems` says so
        assert_google_set(body, uploadable=False)


def test_a_stored_products_set_is_stored_once_per_version_and_channel(api, production_model):
    product = ProductFactory()

    first = api.post(ASSET_SETS, {"sku": product.sku}, format="json")
    again = api.post(ASSET_SETS, {"sku": product.sku}, format="json")
    meta = api.post(ASSET_SETS, {"sku": product.sku, "channel": "meta_feed"}, format="json")

    assert (first.status_code, again.status_code, meta.status_code) == (200, 200, 200)
    body = again.json()
    assert_google_set(body)
    rows = {row.channel: row for row in AssetSet.objects.all()}
    assert set(rows) == {"google_search", "meta_feed"}
    stored = rows["google_search"]
    assert (stored.product_id, stored.model_version_id) == (product.pk, production_model.pk)
    assert stored.assets == {
        "headline": body["headlines"],
        "description": body["descriptions"],
        "path": body["paths"],
    }
    assert (stored.lint, stored.problems) == (body["lint"], body["problems"])
    assert rows["meta_feed"].assets["primary_text"] == meta.json()["primary_texts"]
    assert not Creative.objects.exists()


@pytest.mark.parametrize("channel", ["generic", "tiktok", 7])
def test_a_channel_without_asset_sets_is_a_400_naming_the_allowed_ones(api, production_model, channel):
    response = api.post(ASSET_SETS, {**ITEM, "channel": channel}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "channel"
    assert error["message"] == (
        f'channel: Channel "{channel}" has no asset sets; allowed channels: google_search, meta_feed.'
    )
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"sku": "NO-SUCH-SKU"}, 404, "sku"),
        ({"sku": "SKU-1", "title": "both"}, 400, "sku"),
        ({"title": "A lamp"}, 400, "description"),
        ({**ITEM, "tone": "bold"}, 400, "tone"),  # a set is written in every tone
        ({**ITEM, "title": "x" * 201}, 400, "title"),
        ({**ITEM, "price": -1}, 400, "price"),
    ],
)
def test_asset_sets_validate_the_product_as_predict_does(api, production_model, payload, status, field):
    response = api.post(ASSET_SETS, payload, format="json")

    assert response.status_code == status, response.content
    assert response.json()["error"]["field"] == field


def test_asset_sets_need_a_token(production_model):
    assert APIClient().post(ASSET_SETS, ITEM, format="json").status_code == 401


def test_asset_sets_share_the_predict_rate(api, production_model, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "predict": "1/min"},
    }

    assert api.post(ASSET_SETS, ITEM, format="json").status_code == 200
    assert api.post("/api/v1/predict", ITEM, format="json").status_code == 429


def test_asset_sets_without_a_production_model_are_a_503(api):
    assert api.post(ASSET_SETS, ITEM, format="json").status_code == 503


def test_asset_sets_are_documented(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"][ASSET_SETS]["post"]
    assert operation["operationId"] == "asset_set_generate"
    assert set(operation["responses"]) == {"200", "400", "401", "404", "413", "415", "429", "503"}
    components = schema["components"]["schemas"]
    assert components["AssetSet"]["discriminator"]["propertyName"] == "channel"
    assert set(components["GoogleSearchAssetSet"]["properties"]) == GOOGLE_KEYS | {"latency_ms"}
    assert set(components["MetaFeedAssetSet"]["properties"]) == META_KEYS | {"latency_ms"}
    assert components["AssetSetChannelName"]["enum"] == ["google_search", "meta_feed"]
    assert components["ChannelName"]["enum"] == list(CHANNELS)


# --- the service --------------------------------------------------------------------------------


def test_one_call_writes_the_sets_of_several_products(production_model):
    products = ProductFactory.create_batch(3)

    result = asset_sets_generate(products=products, channel="google_search")

    assert [written.row.product_id for written in result.sets] == [product.pk for product in products]
    assert AssetSet.objects.filter(model_version=production_model, channel="google_search").count() == 3
    assert PredictionLog.objects.filter(endpoint="asset_sets").count() == 3  # one per product


def test_writing_a_set_again_replaces_it(production_model):
    product = ProductFactory()
    asset_sets_generate(products=[product], channel="meta_feed")
    AssetSet.objects.update(assets={"headline": ["stale"]}, problems=["stale"])

    asset_sets_generate(products=[product, product], channel="meta_feed")

    stored = AssetSet.objects.get()
    assert stored.assets["headline"] != ["stale"] and stored.problems != ["stale"]


def test_the_service_refuses_what_has_no_set(production_model):
    with pytest.raises(ApplicationError, match='Channel "generic" has no asset sets') as refused:
        asset_sets_generate(items=[ITEM], channel="generic")
    assert refused.value.field == "channel"
    with pytest.raises(ApplicationError, match="at most 16 products"):
        asset_sets_generate(items=[ITEM] * 17, channel="google_search")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_writers_of_one_set_at_once_leave_one_row(tiny_artifact):
    from registry.models import ModelVersion
    from tests.factories.registry import model_version_with_artifact

    model_version_with_artifact(source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION)
    product = ProductFactory()
    start, errors = threading.Barrier(2), []

    def write() -> None:
        try:
            start.wait()
            asset_sets_generate(products=[product], channel="google_search")
        except Exception as error:  # reported below: the test fails on any of them
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert AssetSet.objects.filter(product=product, channel="google_search").count() == 1


# --- the admin ----------------------------------------------------------------------------------


def test_the_admin_lists_sets_read_only(admin_client, production_model):
    product = ProductFactory()
    written = asset_sets_generate(products=[product], channel="google_search").sets[0]

    listed = admin_client.get(reverse("admin:inference_assetset_changelist"))
    detail = admin_client.get(reverse("admin:inference_assetset_change", args=[written.row.pk]))

    assert listed.status_code == 200
    assert [row.pk for row in listed.context["cl"].result_list] == [written.row.pk]
    assert (
        f'<td class="field-headline_count">{len(written.assets["headline"])}</td>' in listed.content.decode()
    )
    assert detail.status_code == 200
    assert admin_client.get(reverse("admin:inference_assetset_add")).status_code == 403
