"""The catalog API: generate (validation, auth, permission, size limit, persist) and the product reads."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from products.generator import CATEGORIES, generate_catalog
from products.models import Product, ReferenceCreative
from tests.factories.products import ProductFactory

pytestmark = pytest.mark.django_db

GENERATE_URL = "/api/v1/products/generate"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def operator_client(operator_user):
    return client_for(operator_user)


@pytest.fixture
def marketer_client(marketer_user):
    return client_for(marketer_user)


def test_urls_are_mounted_where_clients_expect_them():
    assert reverse("products:generate") == GENERATE_URL
    assert reverse("products:list") == "/api/v1/products"
    assert reverse("products:detail", args=["A/B-1"]) == "/api/v1/products/A/B-1"


# --------------------------------------------------------------------------------------------
# POST /api/v1/products/generate
# --------------------------------------------------------------------------------------------


def test_generate_returns_the_generators_records_and_stores_nothing(marketer_client):
    response = marketer_client.post(GENERATE_URL, {"count": 3, "seed": 7}, format="json")

    assert response.status_code == 200
    body = response.json()
    metadata = body["metadata"]
    expected = generate_catalog(3, 7)
    assert {key: metadata[key] for key in ("count", "seed", "persisted", "stored")} == {
        "count": 3,
        "seed": 7,
        "persisted": False,
        "stored": None,
    }
    assert set(metadata["categories"]) <= set(CATEGORIES)
    assert sum(metadata["categories"].values()) == 3
    assert [{k: v for k, v in record.items() if k != "timestamp"} for record in body["records"]] == [
        product.as_record() for product in expected
    ]
    assert {record["timestamp"] for record in body["records"]} == {metadata["generated_at"]}
    datetime.fromisoformat(metadata["generated_at"].replace("Z", "+00:00"))
    assert list(body["records"][0]) == [
        "sku",
        "title",
        "category",
        "brand",
        "description",
        "price",
        "rating",
        "url",
        "timestamp",
    ]
    assert Product.objects.count() == 0


def test_generate_defaults_to_50_products_and_a_random_seed_it_echoes(marketer_client):
    first = marketer_client.post(GENERATE_URL, {}, format="json").json()
    replay = marketer_client.post(GENERATE_URL, {"seed": first["metadata"]["seed"]}, format="json").json()

    assert first["metadata"]["count"] == 50
    assert len(first["records"]) == 50
    assert isinstance(first["metadata"]["seed"], int) and first["metadata"]["seed"] >= 0
    assert [record["sku"] for record in replay["records"]] == [record["sku"] for record in first["records"]]


def test_generate_ignores_unknown_fields(marketer_client):
    response = marketer_client.post(GENERATE_URL, {"count": 2, "seed": 1, "colour": "blue"}, format="json")

    assert response.status_code == 200
    assert len(response.json()["records"]) == 2


def test_generate_with_persist_stores_the_same_products_idempotently(operator_client):
    first = operator_client.post(GENERATE_URL, {"count": 4, "seed": 12, "persist": True}, format="json")
    again = operator_client.post(GENERATE_URL, {"count": 4, "seed": 12, "persist": True}, format="json")

    assert first.status_code == again.status_code == 201
    assert first.json()["metadata"]["persisted"] is True
    assert first.json()["metadata"]["stored"] == {"created": 4, "updated": 0, "unchanged": 0}
    assert again.json()["metadata"]["stored"] == {"created": 0, "updated": 0, "unchanged": 4}
    assert sorted(Product.objects.values_list("sku", flat=True)) == sorted(
        r["sku"] for r in first.json()["records"]
    )
    assert ReferenceCreative.objects.count() == 4 * 12  # one per tone in each of the three channels


def test_persist_needs_the_add_product_permission(marketer_client):
    response = marketer_client.post(GENERATE_URL, {"count": 2, "seed": 1, "persist": True}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Storing generated products (persist: true) needs the products.add_product permission."
        }
    }
    assert Product.objects.count() == 0


def test_generate_needs_authentication():
    response = APIClient().post(GENERATE_URL, {"count": 2}, format="json")

    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Authentication credentials were not provided."}}


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"count": 0}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": -5}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": 10001}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": "abc"}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": 1.5}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": True}, "count", "Must be a whole number from 1 to 10000."),
        ({"count": "9" * 2000}, "count", "Must be a whole number from 1 to 10000."),
        ({"seed": -1}, "seed", "Must be a whole number from 0 to 18446744073709551615."),
        ({"seed": 2**64}, "seed", "Must be a whole number from 0 to 18446744073709551615."),
        ({"seed": "lucky"}, "seed", "Must be a whole number from 0 to 18446744073709551615."),
        ({"persist": "maybe"}, "persist", "Must be a valid boolean."),
    ],
)
def test_bad_generate_input_is_a_400_naming_the_field_and_the_limit(operator_client, payload, field, message):
    response = operator_client.post(GENERATE_URL, payload, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == f"{field}: {message}"
    assert error["details"] == {field: [message]}
    assert Product.objects.count() == 0


def test_the_count_limit_is_the_setting(operator_client, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GENERATE_MAX_COUNT": 20}

    refused = operator_client.post(GENERATE_URL, {"count": 21}, format="json")
    accepted = operator_client.post(GENERATE_URL, {"count": 20, "seed": 1}, format="json")

    assert refused.json()["error"]["message"] == "count: Must be a whole number from 1 to 20."
    assert accepted.status_code == 200


def test_a_body_that_is_not_an_object_is_a_400(operator_client):
    response = operator_client.post(GENERATE_URL, [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == ("Invalid data. Expected a dictionary, but got list.")


def test_invalid_json_is_a_400(operator_client):
    response = operator_client.post(GENERATE_URL, '{"count": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("JSON parse error")


def test_a_body_over_the_limit_is_a_413(operator_client, settings):
    settings.API_MAX_BODY_BYTES = 100
    body = json.dumps({"count": 1, "padding": "x" * 200})

    response = operator_client.post(GENERATE_URL, body, content_type="application/json")

    assert response.status_code == 413
    assert (
        response.json()["error"]["message"] == f"Request body is {len(body)} bytes; the limit is 100 bytes."
    )


def test_persisting_the_golden_seed_is_refused(operator_client, settings):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SEED": 31}

    response = operator_client.post(GENERATE_URL, {"count": 2, "seed": 31, "persist": True}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "seed"
    assert Product.objects.count() == 0


def test_generate_is_throttled_in_the_catalog_scope():
    from products.apis import ProductGenerateApi

    assert ProductGenerateApi.throttle_scope == "catalog"


# --------------------------------------------------------------------------------------------
# GET /api/v1/products and /api/v1/products/<sku>
# --------------------------------------------------------------------------------------------


def test_list_filters_searches_and_paginates(marketer_client):
    ProductFactory(sku="A-1", category="Outdoor", brand="Cairnline", title="Headlamp", creatives=[])
    ProductFactory(sku="A-2", category="Outdoor", brand="Ridgeback Gear", title="Tent", creatives=[])
    ProductFactory(sku="B-1", category="Beauty", brand="Glow Theory", title="Face serum", creatives=[])
    ProductFactory(
        sku="G-1", category="Outdoor", brand="Cairnline", source=Product.Source.GENERATED, creatives=[]
    )

    def skus(**params):
        response = marketer_client.get("/api/v1/products", params)
        assert response.status_code == 200
        return [product["sku"] for product in response.json()["results"]]

    assert skus() == ["A-1", "A-2", "B-1", "G-1"]
    assert skus(category="Outdoor", brand="Cairnline") == ["A-1", "G-1"]
    assert skus(source="generated") == ["G-1"]
    assert skus(search="serum") == ["B-1"]
    assert skus(search="a-2") == ["A-2"]
    page = marketer_client.get("/api/v1/products", {"page_size": 3, "page": 2}).json()
    assert (page["count"], [product["sku"] for product in page["results"]]) == (4, ["G-1"])
    first = marketer_client.get("/api/v1/products", {"page_size": 1}).json()["results"][0]
    assert set(first) == {
        "sku", "title", "category", "brand", "description", "price", "rating", "url", "source",
        "created_at", "updated_at",
    }  # fmt: skip


def test_list_refuses_an_unknown_source(marketer_client):
    response = marketer_client.get("/api/v1/products", {"source": "scraped"})

    assert response.status_code == 400
    assert response.json()["error"]["message"] == 'source: "scraped" is not a valid choice.'


def test_list_needs_authentication():
    assert APIClient().get("/api/v1/products").status_code == 401


def test_detail_returns_the_product_with_its_creatives(marketer_client):
    ProductFactory(sku="DEPT/42", creatives=["bold", "value"])

    response = marketer_client.get("/api/v1/products/DEPT/42")

    assert response.status_code == 200
    body = response.json()
    assert (body["sku"], body["price"], body["rating"]) == ("DEPT/42", "249.99", 4.5)
    assert [creative["tone"] for creative in body["creatives"]] == ["bold", "value"]
    assert {creative["channel"] for creative in body["creatives"]} == {"generic"}


def test_detail_shows_each_creatives_channel_ordered_by_channel_then_tone(operator_client):
    generated = operator_client.post(GENERATE_URL, {"count": 1, "seed": 18, "persist": True}, format="json")
    sku = generated.json()["records"][0]["sku"]

    creatives = operator_client.get(f"/api/v1/products/{sku}").json()["creatives"]

    assert [(creative["channel"], creative["tone"]) for creative in creatives] == [
        (channel, tone)
        for channel in ("generic", "google_search", "meta_feed")
        for tone in ("bold", "luxury", "playful", "value")
    ]
    assert set(creatives[4]) == {"channel", "tone", "headline", "body", "cta"}
    assert all(len(creative["headline"]) <= 30 for creative in creatives[4:8])  # a search ad's headlines


def test_detail_of_an_unknown_sku_is_a_404(marketer_client):
    response = marketer_client.get("/api/v1/products/NOPE-1")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "No product with sku 'NOPE-1'.", "field": "sku"}}
    assert marketer_client.get("/api/v1/products/NUL%00").status_code == 404


def test_the_schema_documents_the_catalog_endpoints(operator_client):
    response = operator_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    assert {"/api/v1/products", "/api/v1/products/generate", "/api/v1/products/{sku}"} <= set(paths)
    generate = paths["/api/v1/products/generate"]["post"]
    assert set(generate["responses"]) >= {"200", "201", "400", "401", "403", "413", "429"}


# --------------------------------------------------------------------------------------------
# url: the product's page on the shop, in every product answer
# --------------------------------------------------------------------------------------------


def test_generated_urls_round_trip_from_generate_through_persist_to_list_and_detail(operator_client):
    generated = operator_client.post(GENERATE_URL, {"count": 3, "seed": 17, "persist": True}, format="json")
    records = {record["sku"]: record["url"] for record in generated.json()["records"]}

    listed = operator_client.get("/api/v1/products", {"source": "generated"}).json()["results"]
    details = {sku: operator_client.get(f"/api/v1/products/{sku}").json()["url"] for sku in records}

    assert generated.status_code == 201
    assert records == {sku: f"https://shop.example.com/p/{sku.lower()}" for sku in records}
    assert {product["sku"]: product["url"] for product in listed} == records
    assert details == records
    assert dict(Product.objects.values_list("sku", "url")) == records


def test_an_imported_url_is_answered_as_stored_and_a_product_without_one_answers_empty(marketer_client):
    ProductFactory(sku="SHOP/1", url="https://shop.example.com/p/shop%2F1?ref=api", creatives=[])
    ProductFactory(sku="SHOP-2", creatives=[])

    first = marketer_client.get("/api/v1/products/SHOP/1").json()
    second = marketer_client.get("/api/v1/products/SHOP-2").json()

    assert first["url"] == "https://shop.example.com/p/shop%2F1?ref=api"
    assert second["url"] == ""


def test_the_schema_documents_url_on_every_product_answer(operator_client):
    schema = operator_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    for name in ("GeneratedRecord", "ProductListOutput", "ProductDetailOutput"):
        assert components[name]["properties"]["url"]["type"] == "string", name
        assert "url" in components[name]["required"], name
