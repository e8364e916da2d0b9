"""GET /api/v1/channels: the channel registry with its limits, for API clients, documented in the schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from training.ml.channels import CHANNELS, META_CALLS_TO_ACTION

pytestmark = pytest.mark.django_db

CHANNELS_URL = "/api/v1/channels"


def test_channels_lists_the_registry_with_its_limits(api):
    response = api.get(CHANNELS_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["default"] == "generic"
    assert [channel["name"] for channel in body["channels"]] == list(CHANNELS)
    google = {field["name"]: field for field in body["channels"][1]["fields"]}
    assert google["headline"] == {
        "name": "headline",
        "label": "Headline",
        "max_width": 30,
        "min_count": 3,
        "max_count": 15,
        "choices": [],
    }
    assert (google["description"]["max_width"], google["path"]["max_width"]) == (90, 15)
    meta = {field["name"]: field for field in body["channels"][2]["fields"]}
    assert meta["cta"]["choices"] == list(META_CALLS_TO_ACTION)
    assert body["channels"][0]["wide_characters_count_double"] is False
    assert {field["name"]: field["max_width"] for field in body["channels"][0]["fields"]} == {
        "headline": 300,
        "body": None,
        "cta": 120,
    }


def test_channels_needs_a_token():
    response = APIClient().get(CHANNELS_URL)

    assert response.status_code == 401


def test_channels_is_documented(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"][CHANNELS_URL]["get"]
    assert operation["operationId"] == "channel_list"
    assert set(operation["responses"]) == {"200", "401", "429"}  # 429: the layers outside the view add it
    channel_field = schema["components"]["schemas"]["ChannelField"]["properties"]
    assert channel_field["max_width"]["nullable"] is True
