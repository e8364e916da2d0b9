"""The OpenAPI schema: generated without warnings, and the serving endpoints keep to it under fuzzing."""

from __future__ import annotations

import io
import re

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SERVING_PATHS = "^/api/v1/(predict|batch_predict|asset_sets|info|channels)$"
EVERY_CHECK = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)


def _restore_many_more() -> None:
    """hypothesis 6.170.10 replaced `many.more()` with `with many(...) as e: for _ in e:`, and
    hypothesis-jsonschema 0.23.1 (the latest, used by schemathesis for every object body) still
    calls `more()`. Until the dev dependencies pin hypothesis<6.170.10, this drives the new iterator
    with the old call; it does nothing where `more()` exists."""
    from hypothesis.internal.conjecture import utils

    if hasattr(utils.many, "more"):
        return

    def more(self) -> bool:
        if not hasattr(self, "_compat_iterator"):
            self.__enter__()
            self._compat_iterator = iter(self)
        try:
            next(self._compat_iterator)
        except StopIteration:
            self.__exit__(None)
            return False
        return True

    utils.many.more = more


_restore_many_more()


def test_schema_generates_without_warnings(tmp_path):
    output = tmp_path / "schema.yml"
    errors = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output), stderr=errors)

    assert "Warning" not in errors.getvalue()
    text = output.read_text()
    for path in (
        "/api/v1/predict:",
        "/api/v1/batch_predict:",
        "/api/v1/asset_sets:",
        "/api/v1/info:",
        "/api/v1/channels:",
    ):
        assert path in text


def test_every_serving_operation_documents_its_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    predict = schema["paths"]["/api/v1/predict"]["post"]
    batch = schema["paths"]["/api/v1/batch_predict"]["post"]
    asset_sets = schema["paths"]["/api/v1/asset_sets"]["post"]
    assert set(predict["responses"]) == {"200", "400", "401", "404", "413", "415", "429", "503"}
    assert set(asset_sets["responses"]) == {"200", "400", "401", "404", "413", "415", "429", "503"}
    assert set(batch["responses"]) == {"200", "400", "401", "413", "415", "429", "503"}
    request = schema["components"]["schemas"]["PredictProductTextRequest"]["properties"]
    assert request["num_variants"]["maximum"] == 5
    assert request["max_new_tokens"] == {**request["max_new_tokens"], "minimum": 8, "maximum": 96}
    assert request["title"]["maxLength"] == 200
    assert request["channel"]["default"] == "generic"
    assert schema["components"]["schemas"]["ChannelName"]["enum"] == ["generic", "google_search", "meta_feed"]
    assert schema["components"]["schemas"]["GeneratedCreative"]["properties"]["ad"]["type"] == "object"
    assert schema["components"]["schemas"]["BatchPredictRequest"]["properties"]["items"]["maxItems"] == 64
    examples = predict["requestBody"]["content"]["application/json"]["examples"]
    assert {"FreeText", "StoredProduct"} <= set(examples)


@pytest.fixture
def serving_schema(production_model, api_token, high_rates):
    """The schema served by the real WSGI application. Like Django's test client, keep the test's
    database connection open across requests (the handler would close it after each one)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from creativeops.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Generated requests only (no shrinking), fixtures shared across examples, slow or filtered cases allowed.
FUZZ_SETTINGS = {
    "deadline": None,
    "phases": [Phase.generate],
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
}
fuzzed = schemathesis.from_pytest_fixture("serving_schema", endpoint=SERVING_PATHS)
whole_api = schemathesis.from_pytest_fixture("serving_schema", endpoint="^/api/v1/")


@pytest.mark.django_db
@fuzzed.parametrize()
@hypothesis_settings(max_examples=20, **FUZZ_SETTINGS)
def test_serving_endpoints_conform_to_the_schema(case, api_token):
    response = case.call_wsgi(headers={"Authorization": f"Token {api_token}"})

    case.validate_response(response, checks=EVERY_CHECK)
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)
    if response.status_code >= 400:
        assert re.match(r"^\S", response.json["error"]["message"])


@pytest.fixture
def _every_rate_high(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            name: "100000/min" for name in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        },
    }
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GENERATE_MAX_COUNT": 20}


@pytest.mark.django_db
@whole_api.parametrize()
@hypothesis_settings(max_examples=8, **FUZZ_SETTINGS)
def test_every_api_operation_answers_as_its_schema_says(case, api_token, _every_rate_high):
    """Status codes, content types, headers and bodies of every /api/v1 operation, for a client with
    a token and no operator permissions (so no fuzzed request starts a pipeline or promotes a model)."""
    response = case.call_wsgi(headers={"Authorization": f"Token {api_token}"})

    case.validate_response(response, checks=EVERY_CHECK)


def test_an_unknown_api_path_answers_in_the_json_error_shape(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"message": "No API endpoint at /api/v1/no-such-thing."}}
    assert client.get("/creatives/no-such-page/").status_code == 404  # pages keep the HTML 404
    assert "text/html" in client.get("/no-such-page").headers["Content-Type"]


def test_the_schema_says_what_the_api_answers(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    products = schema["paths"]["/api/v1/products"]["get"]["responses"]["200"]["content"]["application/json"]
    assert products["schema"] == {"$ref": "#/components/schemas/ProductPage"}
    assert set(components["ProductPage"]["properties"]) == {"count", "next", "previous", "results"}
    assert components["PipelineRunOutput"]["properties"]["model_version"]["nullable"] is True
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
