"""The predict, batch_predict and info endpoints on a real (tiny) production model."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from inference import metrics, services
from inference.model_manager import NO_PRODUCTION_MODEL
from inference.models import Creative, PredictionLog
from tests.factories.products import ProductFactory

pytestmark = pytest.mark.django_db

PREDICT = "/api/v1/predict"
BATCH = "/api/v1/batch_predict"
INFO = "/api/v1/info"
ITEM = {
    "title": "Ridgeway Ripstop Nylon Backpack 30 L",
    "description": "The Ridgeway backpack is made from ripstop nylon and sheds rain. 30 L, 3-year warranty.",
    "category": "outdoor",
    "brand": "Ridgeway",
    "price": 89.99,
}


def _assert_creatives(creatives: list[dict], tone: str, count: int) -> None:
    assert len(creatives) == count
    for creative in creatives:
        assert set(creative) == {"tone", "headline", "body", "cta", "ad"}
        assert creative["tone"] == tone
        assert all(isinstance(creative[name], str) for name in ("headline", "body", "cta"))
        # The default channel is generic: its ad is the creative itself, field by field.
        assert creative["ad"] == {
            name: [creative[name]] for name in ("headline", "body", "cta") if creative[name]
        }


def _sample(name: str, labels: dict | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


# --- happy paths --------------------------------------------------------------------------------


def test_predict_free_text_writes_creatives_and_logs_the_input(api, production_model):
    response = api.post(PREDICT, {**ITEM, "tone": "luxury", "num_variants": 3}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == 1
    assert body["model_name"] == settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    assert body["latency_ms"] > 0
    _assert_creatives(body["creatives"], "luxury", 3)
    log = PredictionLog.objects.get()
    assert (log.endpoint, log.tone, log.category, log.model_version_id) == (
        "predict",
        "luxury",
        "outdoor",
        production_model.pk,
    )
    assert log.title_length == len(ITEM["title"])
    assert log.description_length == len(ITEM["description"])
    assert str(log.price) == "89.99"
    assert not Creative.objects.exists()  # free text is not a catalog product: nothing to store


def test_predict_defaults_to_one_bold_creative(api, production_model):
    response = api.post(PREDICT, {"title": "Desk lamp", "description": "Warm light."}, format="json")

    assert response.status_code == 200, response.content
    _assert_creatives(response.json()["creatives"], "bold", 1)


def test_predict_by_sku_stores_the_creatives(api, production_model):
    product = ProductFactory(sku="SKU-00042")

    response = api.post(PREDICT, {"sku": "SKU-00042", "tone": "value", "num_variants": 2}, format="json")

    assert response.status_code == 200, response.content
    stored = list(Creative.objects.order_by("id"))
    assert len(stored) == 2
    returned = response.json()["creatives"]
    for creative, answer in zip(stored, returned, strict=True):
        assert (creative.product, creative.model_version, creative.tone, creative.source) == (
            product,
            production_model,
            "value",
            Creative.Source.API,
        )
        assert (creative.headline, creative.body, creative.cta) == (
            answer["headline"],
            answer["body"],
            answer["cta"],
        )


def test_predict_unknown_sku_is_a_404_naming_it(api, production_model):
    response = api.post(PREDICT, {"sku": "NOPE-1"}, format="json")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"message": "Unknown sku 'NOPE-1': no stored product has it.", "field": "sku"}
    }
    assert not PredictionLog.objects.exists()


def test_batch_keeps_request_order_and_fails_items_alone(api, production_model):
    product = ProductFactory(sku="SKU-7")
    batches_before = _sample("creativeops_batch_size_count")
    items_before = _sample("creativeops_batch_size_sum")
    items = [
        ITEM,
        {**ITEM, "title": ""},
        {"sku": "MISSING-9"},
        {"sku": "SKU-7", "tone": "playful"},
        {**ITEM, "tone": "angry"},
        "not an object",
        {**ITEM, "title": "x" * 201},
    ]

    response = api.post(BATCH, {"items": items, "tone": "luxury", "num_variants": 2}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == 1
    results = body["results"]
    assert [result["index"] for result in results] == list(range(len(items)))
    _assert_creatives(results[0]["creatives"], "luxury", 2)
    assert results[1]["error"] == {"message": "title: This field may not be blank.", "field": "title"}
    assert results[2]["error"] == {
        "message": "Unknown sku 'MISSING-9': no stored product has it.",
        "field": "sku",
    }
    _assert_creatives(results[3]["creatives"], "playful", 2)
    assert results[4]["error"] == {
        "message": 'tone: Unknown tone "angry"; allowed tones: bold, luxury, value, playful.',
        "field": "tone",
    }
    assert results[5]["error"]["message"] == "Invalid data. Expected a dictionary, but got str."
    assert results[6]["error"] == {
        "message": "title: Ensure this field has no more than 200 characters.",
        "field": "title",
    }
    for index in (1, 2, 4, 5, 6):
        assert "creatives" not in results[index]
    # The two valid items went to the model together: one call of batch size 2.
    assert _sample("creativeops_batch_size_count") == batches_before + 1
    assert _sample("creativeops_batch_size_sum") == items_before + 2
    assert PredictionLog.objects.filter(endpoint="batch_predict").count() == 2
    assert (
        list(Creative.objects.values_list("product", "tone", "source"))
        == [(product.pk, "playful", "api")] * 2
    )


def test_batch_with_only_invalid_items_answers_without_generating(api, production_model):
    response = api.post(BATCH, {"items": [{"title": "no description"}]}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == 1
    assert body["latency_ms"] == 0
    assert body["results"][0]["error"]["field"] == "description"
    assert not PredictionLog.objects.exists()


def test_predictions_are_counted_per_version_and_endpoint(api, production_model):
    labels = {"model_version": "1", "endpoint": "batch_predict"}
    before = _sample("creativeops_predictions_total", labels)

    api.post(BATCH, {"items": [ITEM, ITEM, ITEM]}, format="json")

    assert _sample("creativeops_predictions_total", labels) == before + 3


# --- limits and bad input -----------------------------------------------------------------------

LIMIT_CASES = [
    ({**ITEM, "title": "x" * 201}, "title", "title: Ensure this field has no more than 200 characters."),
    (
        {**ITEM, "description": "x" * 2001},
        "description",
        "description: Ensure this field has no more than 2000 characters.",
    ),
    ({**ITEM, "title": ""}, "title", "title: This field may not be blank."),
    (
        {"description": "no title"},
        "title",
        "title: This field is required (or give the sku of a stored product instead of title).",
    ),
    (
        {**ITEM, "num_variants": 6},
        "num_variants",
        "num_variants: Ensure this value is less than or equal to 5.",
    ),
    (
        {**ITEM, "num_variants": 0},
        "num_variants",
        "num_variants: Ensure this value is greater than or equal to 1.",
    ),
    (
        {**ITEM, "max_new_tokens": 97},
        "max_new_tokens",
        "max_new_tokens: Ensure this value is less than or equal to 96.",
    ),
    (
        {**ITEM, "max_new_tokens": 7},
        "max_new_tokens",
        "max_new_tokens: Ensure this value is greater than or equal to 8.",
    ),
    (
        {**ITEM, "tone": "angry"},
        "tone",
        'tone: Unknown tone "angry"; allowed tones: bold, luxury, value, playful.',
    ),
    ({**ITEM, "title": 123}, "title", "title: Must be a string, got a number."),
    ({**ITEM, "num_variants": "2"}, "num_variants", "num_variants: Must be an integer, got a string."),
    (
        {**ITEM, "num_variants": 1.5},
        "num_variants",
        "num_variants: Must be an integer, got a fractional number.",
    ),
    ({**ITEM, "num_variants": True}, "num_variants", "num_variants: Must be an integer, got a boolean."),
    ({**ITEM, "price": "cheap"}, "price", "price: Must be a number from 0 to 99999999.99."),
    ({**ITEM, "price": -1}, "price", "price: Must be a number from 0 to 99999999.99."),
    ({**ITEM, "price": 10**400}, "price", "price: Must be a number from 0 to 99999999.99."),
    (
        {**ITEM, "category": "c" * 65},
        "category",
        "category: Ensure this field has no more than 64 characters.",
    ),
    (
        {**ITEM, "title": "nul\x00byte"},
        "title",
        "title: Contains a control character U+0000 (NUL) at position 4; remove it.",
    ),
    (
        {**ITEM, "title": "Tent \x1b[2J"},
        "title",
        "title: Contains a control character U+001B (ESC) at position 6; remove it.",
    ),
    (
        {**ITEM, "brand": "Acme\u202e"},
        "brand",
        "brand: Contains a bidirectional control character U+202E (Right-To-Left Override) at position 5; "
        "remove it.",
    ),
    (
        {**ITEM, "titel": "typo"},
        "titel",
        "titel: Unknown field; allowed fields: sku, title, description, category, "
        "brand, price, tone, num_variants, max_new_tokens, channel.",
    ),
    (
        {"sku": "SKU-1", "title": "both"},
        "sku",
        "sku: Give either sku or the product's fields, not both (also got title).",
    ),
]


@pytest.mark.parametrize(
    ("payload", "field", "message"), LIMIT_CASES, ids=[case[2][:40] for case in LIMIT_CASES]
)
def test_predict_refuses_bad_input_naming_the_field(api, production_model, payload, field, message):
    response = api.post(PREDICT, payload, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"] == message
    assert field in error["details"]
    assert not PredictionLog.objects.exists()


def test_an_infinite_price_gets_the_same_message_from_predict_and_from_batch_predict(api, production_model):
    body = '{"title": "Tent", "description": "A tent.", "price": 1e400}'  # JSON reads 1e400 as infinity

    single = api.post(PREDICT, body, content_type="application/json")
    batch = api.post(BATCH, '{"items": [' + body + "]}", content_type="application/json")

    message = "price: Must be a number from 0 to 99999999.99."
    assert single.status_code == 400, single.content
    assert (single.json()["error"]["message"], single.json()["error"]["field"]) == (message, "price")
    assert batch.status_code == 200, batch.content
    assert batch.json()["results"] == [{"index": 0, "error": {"message": message, "field": "price"}}]


@pytest.mark.parametrize("path", [PREDICT, BATCH, "/api/v1/products/generate", "/api/v1/pipeline/runs"])
def test_deeply_nested_json_is_a_400_naming_the_limit(api, operator_user, path):
    api.force_authenticate(operator_user)
    body = "[" * 5_000 + "]" * 5_000  # 10 KB

    response = api.post(path, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": {"message": "JSON arrays and objects are nested more than 32 levels deep; the limit is 32."}
    }


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, production_model, constant):
    response = api.post(
        PREDICT, f'{{"title": "t", "description": "d", "price": {constant}}}', content_type="application/json"
    )

    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == f"{constant} is not a JSON number; JSON has no NaN or Infinity."
    )


def test_predict_body_that_is_not_an_object(api, production_model):
    response = api.post(PREDICT, [ITEM], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid data. Expected a dictionary, but got list."


def test_broken_json_is_a_400_with_the_parse_error(api, production_model):
    response = api.post(PREDICT, '{"title": "unterminated', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("JSON parse error - ")


def test_non_json_body_is_a_415(api, production_model):
    response = api.post(PREDICT, "title=x", content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["error"]["message"] == 'Unsupported media type "text/plain" in request.'


def test_body_over_one_megabyte_is_a_413_naming_the_limit(api, production_model):
    payload = json.dumps({**ITEM, "description": "x" * 1_100_000})

    response = api.post(PREDICT, payload, content_type="application/json")

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["message"] == f"Request body is {len(payload)} bytes; the limit is 1000000 bytes."
    assert error["limit"] == 1_000_000


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"items": [ITEM] * 65}, "items: Ensure this field has no more than 64 elements."),
        ({"items": []}, "items: This list may not be empty."),
        ({"items": {"title": "x"}}, 'items: Expected a list of items but got type "dict".'),
        (
            {"items": [ITEM], "tone": "grim"},
            'tone: Unknown tone "grim"; allowed tones: bold, luxury, value, playful.',
        ),
        ({"items": [ITEM], "num_variants": 9}, "num_variants: Ensure this value is less than or equal to 5."),
        (
            {"items": [ITEM], "max_new_tokens": 500},
            "max_new_tokens: Ensure this value is less than or equal to 96.",
        ),
        ({}, "items: This field is required."),
    ],
)
def test_batch_refuses_a_bad_request_as_a_whole(api, production_model, payload, message):
    response = api.post(BATCH, payload, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"] == message
    assert not PredictionLog.objects.exists()


def test_a_batch_asking_for_too_much_work_is_refused_before_any_runs(api, production_model):
    response = api.post(BATCH, {"items": [ITEM] * 64, "num_variants": 5, "max_new_tokens": 96}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"] == (
        "items: items × num_variants × max_new_tokens = 64 × 5 × 96 = 30,720 tokens; the limit per request "
        "is 6,144 (PREDICT_MAX_BATCH_TOKENS): send fewer items, variants or tokens."
    )
    assert response.json()["error"]["field"] == "items"
    assert not PredictionLog.objects.exists()
    full_batch = api.post(
        BATCH, {"items": [ITEM] * 2, "num_variants": 1, "max_new_tokens": 96}, format="json"
    )
    assert full_batch.status_code == 200


def test_a_second_batch_in_a_busy_process_is_a_503_while_single_predictions_still_run(api, production_model):
    with services.batch_generation_slot():  # a batch is being generated by this process
        busy = api.post(BATCH, {"items": [ITEM]}, format="json")
        single = api.post(PREDICT, ITEM, format="json")

    assert busy.status_code == 503
    assert busy.json()["error"] == {
        "message": "This server is already generating 1 batch (the limit per process, "
        "PREDICT_BATCH_CONCURRENCY); retry in 1 s.",
        "wait": 1,
    }
    assert busy["Retry-After"] == "1"
    assert single.status_code == 200
    assert api.post(BATCH, {"items": [ITEM]}, format="json").status_code == 200  # the slot is free again


def test_limits_follow_the_settings(api, production_model, settings):
    settings.CREATIVEOPS = {
        **settings.CREATIVEOPS,
        "PREDICT_MAX_BATCH": 2,
        "PREDICT_MAX_DESCRIPTION_CHARS": 10,
    }

    too_many = api.post(BATCH, {"items": [ITEM] * 3}, format="json")
    too_long = api.post(PREDICT, ITEM, format="json")

    assert too_many.json()["error"]["message"] == "items: Ensure this field has no more than 2 elements."
    assert (
        too_long.json()["error"]["message"]
        == "description: Ensure this field has no more than 10 characters."
    )


# --- no model, auth, throttling -----------------------------------------------------------------


def test_predict_without_a_production_model_is_a_503(api):
    response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 503
    assert response.json() == {"error": {"message": NO_PRODUCTION_MODEL}}


@pytest.mark.parametrize("path", [PREDICT, BATCH])
def test_no_token_is_a_401(client, production_model, path):
    response = client.post(path, {"items": [ITEM]}, content_type="application/json")

    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Authentication credentials were not provided."}}
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_token_is_a_401(client, production_model):
    response = client.post(
        PREDICT, ITEM, content_type="application/json", HTTP_AUTHORIZATION="Token " + "0" * 40
    )

    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Invalid token."}}


def test_token_in_the_header_works(client, api_token, production_model):
    response = client.post(
        PREDICT, ITEM, content_type="application/json", HTTP_AUTHORIZATION=f"Token {api_token}"
    )

    assert response.status_code == 200


def test_throttled_per_token_with_the_wait(api, production_model, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "predict": "2/min"},
    }

    statuses = [api.post(PREDICT, ITEM, format="json").status_code for _ in range(3)]
    throttled = api.post(PREDICT, ITEM, format="json")

    assert statuses == [200, 200, 429]
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert error["message"].startswith("Rate limit reached; retry in ")
    assert 0 < error["wait"] <= 60
    assert int(throttled["Retry-After"]) > 0
    assert PredictionLog.objects.count() == 2


def test_batch_has_its_own_rate(api, production_model, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "batch_predict": "1/hour",
        },
    }

    first = api.post(BATCH, {"items": [ITEM]}, format="json")
    second = api.post(BATCH, {"items": [ITEM]}, format="json")
    single = api.post(PREDICT, ITEM, format="json")

    assert (first.status_code, second.status_code, single.status_code) == (200, 429, 200)


# --- info, ready, health ------------------------------------------------------------------------


def test_info_shows_production_and_the_loaded_version(api, production_model):
    before = api.get(INFO).json()
    api.post(PREDICT, ITEM, format="json")
    after = api.get(INFO).json()

    production = before["production"]
    assert production["version"] == 1
    assert production["metrics"] == production_model.metrics
    assert production["dataset_version"] == production_model.training_run.dataset_version.number
    assert production["preset"] == "tiny"
    assert production["artifact_sha256"] == production_model.artifact_sha256
    assert production["promoted_at"] is not None
    assert before["serving"] is None  # nothing loaded in this process until the first prediction
    serving = after["serving"]
    assert serving["version"] == 1
    assert serving["artifact_sha256"] == production_model.artifact_sha256
    assert serving["preset"] == "tiny"
    assert serving["parameter_count"] > 0
    assert after["load_failure"] is None
    assert after["limits"]["max_batch"] == 64
    assert after["limits"]["tones"] == ["bold", "luxury", "value", "playful"]


def test_info_without_production(api):
    body = api.get(INFO).json()

    assert (body["production"], body["serving"], body["load_failure"]) == (None, None, None)


def test_info_needs_a_token(client):
    assert client.get(INFO).status_code == 401


def test_ready_is_503_until_a_model_is_in_production(
    client, tiny_artifact, django_capture_on_commit_callbacks
):
    from registry.services.promotion import model_version_promote
    from tests.factories.registry import model_version_with_artifact

    before = client.get("/ready")
    candidate = model_version_with_artifact(source=tiny_artifact, version=1)
    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version=candidate, actor=None, reason="first model")
    after = client.get("/ready")

    assert before.status_code == 503
    assert before.json() == {"status": "unavailable", "reasons": [NO_PRODUCTION_MODEL]}
    assert after.status_code == 200
    body = after.json()
    assert (body["status"], body["reasons"], body["model"]["version"]) == ("ok", [], 1)


def test_ready_loads_the_model_and_counts_the_load(client, production_model):
    before = _sample("creativeops_model_loads_total", {"result": "success"})

    assert client.get("/ready").status_code == 200

    assert _sample("creativeops_model_loads_total", {"result": "success"}) == before + 1
    assert metrics.MODEL_LOADED_VERSION.labels(model_name=production_model.name)._value.get() == 1


def test_health_checks_nothing(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_prediction_log_write_failure_never_fails_the_answer(api, production_model, caplog):
    """The log rows are written after the response is sent; a database refusal then loses the drift
    sample, not the client's creatives."""
    from django.db import OperationalError, connection

    def refuse_log_inserts(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "inference_predictionlog"'):
            raise OperationalError("disk full")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_log_inserts):
        response = api.post(PREDICT, ITEM, format="json")

    assert response.status_code == 200
    assert len(response.json()["creatives"]) == 1
    assert not PredictionLog.objects.exists()
    assert "1 prediction log rows could not be written" in caplog.text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_deferred_prediction_log_is_one_insert_outside_a_transaction():
    """After the response the connection is in autocommit: a single predict's row needs no BEGIN/COMMIT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inference.services import prediction_logs_write
    from tests.factories.registry import ModelVersionFactory

    version = ModelVersionFactory()
    logs = [
        PredictionLog(
            model_version=version,
            endpoint="predict",
            tone="bold",
            title_length=5,
            description_length=9,
            latency_ms=1.0,
        )
        for _ in range(3)
    ]

    with CaptureQueriesContext(connection) as queries:
        prediction_logs_write(logs=logs[:1])
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT"]

    prediction_logs_write(logs=logs[1:])
    assert PredictionLog.objects.count() == 3
