from __future__ import annotations

import pytest
from django.urls import reverse

from inference.models import Creative, PredictionLog
from registry.models import ModelVersion
from tests.factories.registry import model_version_with_artifact
from tests.pages.builders import make_creative, make_model_version, make_product, page_text

pytestmark = pytest.mark.django_db


def product_url(sku: str) -> str:
    return reverse("creatives:product", kwargs={"sku": sku})


def regenerate_url(sku: str) -> str:
    return reverse("creatives:regenerate", kwargs={"sku": sku})


@pytest.fixture
def kettle():
    return make_product(
        "KIT-9", title="Copper Kettle", category="Home & Kitchen", brand="Hearthly", price="49.00"
    )


def test_product_page_shows_current_creatives_by_tone_and_history_by_version(marketer_client, kettle):
    v1 = make_model_version(1, status=ModelVersion.Status.ARCHIVED)
    v2 = make_model_version(2, status=ModelVersion.Status.ARCHIVED)
    v3 = make_model_version(3, status=ModelVersion.Status.PRODUCTION)
    make_creative(kettle, v1, "bold", headline="v1 bold")
    make_creative(kettle, v2, "bold", headline="v2 bold")
    make_creative(kettle, v2, "value", headline="v2 value")
    make_creative(kettle, v3, "value", headline="v3 value")
    make_creative(kettle, v3, "bold", headline="v3 bold")
    make_creative(kettle, v3, "bold", headline="v3 bold, regenerated", source=Creative.Source.REGENERATE)

    response = marketer_client.get(product_url("KIT-9"))

    assert response.status_code == 200
    # Current: one per tone, the latest, in the tones' order (bold, luxury, value, playful).
    assert [creative.headline for creative in response.context["current"]] == [
        "v3 bold, regenerated",
        "v3 value",
    ]
    history = response.context["history"]
    assert [entry.model_version.version for entry in history] == [2, 1]
    assert [[creative.headline for creative in entry.creatives] for entry in history] == [
        ["v2 bold", "v2 value"],
        ["v1 bold"],
    ]
    text = page_text(response)
    assert "Copper Kettle · Creatives · CreativeOps" in text  # the <title>
    assert "creative-generator v2 Archived · 2 creatives" in text
    assert response.content.count(b"data-copy-text=") == 5  # 2 current + 3 earlier
    assert b'data-copy-text="v3 value&#10;Body of KIT-9 by v3.&#10;Shop now"' in response.content


def test_unknown_sku_is_404(marketer_client):
    assert marketer_client.get(product_url("NOPE")).status_code == 404


def test_marketer_sees_the_regenerate_form_and_a_viewer_does_not(client, marketer, viewer, kettle):
    make_model_version(1, status=ModelVersion.Status.PRODUCTION)
    client.force_login(marketer)
    marketer_page = client.get(product_url("KIT-9"))
    client.force_login(viewer)
    viewer_page = client.get(product_url("KIT-9"))

    assert b'action="/creatives/product/KIT-9/regenerate/"' in marketer_page.content
    assert b"<progress" in marketer_page.content
    assert viewer_page.status_code == 200
    assert b"regenerate/" not in viewer_page.content
    assert client.post(regenerate_url("KIT-9"), {"tone": "bold", "num_variants": 1}).status_code == 403


def test_regenerate_writes_creatives_with_the_production_model(
    marketer_client, kettle, tiny_artifact, fresh_model_manager
):
    production = model_version_with_artifact(
        source=tiny_artifact, version=7, status=ModelVersion.Status.PRODUCTION
    )

    response = marketer_client.post(regenerate_url("KIT-9"), {"tone": "playful", "num_variants": 3})

    assert response.status_code == 302
    assert response["Location"] == "/creatives/product/KIT-9/#regenerated"
    created = list(Creative.objects.filter(product=kettle).order_by("id"))
    assert [(c.tone, c.source, c.model_version_id) for c in created] == [
        ("playful", Creative.Source.REGENERATE, production.pk)
    ] * 3
    assert PredictionLog.objects.filter(endpoint="regenerate", tone="playful").count() == 1

    page = marketer_client.get(response["Location"])

    assert [creative.pk for creative in page.context["regenerated"]] == [creative.pk for creative in created]
    assert "3 new playful creatives written by creative-generator v7." in page_text(page)
    # Shown once: the next visit lists them as current creatives only.
    assert marketer_client.get(product_url("KIT-9")).context["regenerated"] == []


def test_regenerate_without_a_production_model_shows_a_clear_message(marketer_client, kettle):
    make_model_version(1, status=ModelVersion.Status.ARCHIVED)

    response = marketer_client.post(regenerate_url("KIT-9"), {"tone": "bold", "num_variants": 2})

    assert response.status_code == 503
    assert (
        "No model is in production yet, so nothing can be regenerated: an operator must approve and "
        "promote a model first." in page_text(response)
    )
    assert not Creative.objects.exists()
    assert not PredictionLog.objects.exists()


def test_product_page_without_production_model_explains_why_regenerating_is_impossible(
    marketer_client, kettle
):
    response = marketer_client.get(product_url("KIT-9"))

    assert response.status_code == 200
    text = page_text(response)
    assert (
        "No model is in production yet. Current creatives appear once an operator promotes a model." in text
    )
    assert "No model is in production yet, so nothing can be regenerated: an operator must" in text


def test_regenerate_when_the_production_model_cannot_load_says_why(
    marketer_client, kettle, fresh_model_manager
):
    make_model_version(1, status=ModelVersion.Status.PRODUCTION)  # its artifact folder does not exist

    response = marketer_client.post(regenerate_url("KIT-9"), {"tone": "bold", "num_variants": 1})

    assert response.status_code == 503
    assert "The production model could not be loaded:" in page_text(response)
    assert not Creative.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"tone": "bold", "num_variants": 6},
            "num_variants",
            "Ensure this value is less than or equal to 5.",
        ),
        (
            {"tone": "bold", "num_variants": 0},
            "num_variants",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"tone": "grumpy", "num_variants": 1},
            "tone",
            "Select a valid choice. grumpy is not one of the available choices.",
        ),
    ],
)
def test_regenerate_rejects_bad_input_naming_the_limit(marketer_client, kettle, data, field, message):
    make_model_version(1, status=ModelVersion.Status.PRODUCTION)

    response = marketer_client.post(regenerate_url("KIT-9"), data)

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in page_text(response)
    assert not Creative.objects.exists()


def test_regenerate_needs_post_and_csrf(client, marketer, kettle):
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(marketer)

    assert csrf_client.get(regenerate_url("KIT-9")).status_code == 405
    assert csrf_client.post(regenerate_url("KIT-9"), {"tone": "bold", "num_variants": 1}).status_code == 403
