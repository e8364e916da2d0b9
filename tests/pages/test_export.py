from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from inference.selectors_pages import EXPORT_COLUMNS, export_cell
from registry.models import ModelVersion
from tests.pages.builders import make_creative, make_model_version, make_product

pytestmark = pytest.mark.django_db
EXPORT_URL = reverse("creatives:export")


def read_csv(response) -> list[dict]:
    content = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(content)))


@pytest.fixture
def production():
    return make_model_version(4, status=ModelVersion.Status.PRODUCTION)


def test_export_streams_the_rows_of_the_current_filter(marketer_client, production):
    archived = make_model_version(3, status=ModelVersion.Status.ARCHIVED)
    tent = make_product("OUT-7", title="Storm Tent", category="Outdoor", brand="Ridgeway", price="199.00")
    kettle = make_product(
        "KIT-7", title="Copper Kettle", category="Home & Kitchen", brand="Hearthly", price="49.00"
    )
    make_creative(tent, production, "bold", headline="Weather anything", body="Two doors.", cta="Pitch it")
    make_creative(tent, production, "value", headline="Camp for less")
    make_creative(tent, archived, "bold", headline="Old tent copy")
    make_creative(kettle, production, "bold", headline="Boil in style")

    response = marketer_client.get(EXPORT_URL, {"category": "Outdoor", "sort": "title"})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="creatives-creative-generator-v4-'
    )
    rows = read_csv(response)
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [(row["sku"], row["tone"], row["headline"]) for row in rows] == [
        ("OUT-7", "bold", "Weather anything"),
        ("OUT-7", "value", "Camp for less"),
    ]
    assert rows[0] | {"created_at": ""} == {
        "sku": "OUT-7",
        "title": "Storm Tent",
        "category": "Outdoor",
        "brand": "Ridgeway",
        "price": "199.00",
        "tone": "bold",
        "headline": "Weather anything",
        "body": "Two doors.",
        "cta": "Pitch it",
        "model_version": "creative-generator v4",
        "created_at": "",
    }
    assert rows[0]["created_at"].startswith("20")


def test_export_matches_the_list_page_for_the_same_query(marketer_client, production):
    for index in range(30):
        product = make_product(f"P-{index:02d}", title=f"Lamp {index:02d}", price=f"{10 + index}.00")
        make_creative(product, production, "bold" if index % 2 else "luxury")
    query = {"tone": "bold", "price_min": "15", "price_max": "35", "sort": "-price"}

    listed = marketer_client.get(reverse("creatives:list"), query).context["page_obj"].object_list
    exported = read_csv(marketer_client.get(EXPORT_URL, query))

    assert [row["sku"] for row in exported] == [creative.product.sku for creative in listed]
    assert [row["sku"] for row in exported][:3] == ["P-25", "P-23", "P-21"]


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(marketer_client, production):
    product = make_product("=HYPERLINK(1)", title="+cmd|' /C calc'!A0", brand="@SUM(1)", price="5.00")
    make_creative(product, production, "bold", headline="-2+3", body="\tTabbed", cta="Buy = now")

    row = read_csv(marketer_client.get(EXPORT_URL))[0]

    assert row["sku"] == "'=HYPERLINK(1)"
    assert row["title"] == "'+cmd|' /C calc'!A0"
    assert row["brand"] == "'@SUM(1)"
    assert row["headline"] == "'-2+3"
    assert row["body"] == "'\tTabbed"
    assert row["cta"] == "Buy = now"  # only a leading character makes a formula


@pytest.mark.parametrize(
    ("value", "expected"), [(None, ""), (12, "12"), ("=1+1", "'=1+1"), ("plain", "plain")]
)
def test_export_cell(value, expected):
    assert export_cell(value) == expected


def test_invalid_filters_answer_400_with_the_reason(marketer_client, production):
    response = marketer_client.get(EXPORT_URL, {"price_min": "abc"})

    assert response.status_code == 400
    assert response.content.decode() == "Invalid filters: Price from: Enter a number.\n"


def test_without_a_production_model_export_answers_409(marketer_client):
    response = marketer_client.get(EXPORT_URL)

    assert response.status_code == 409
    assert response.content.decode().startswith("No model is in production yet")


def test_export_needs_login_and_permission(client, production):
    from tests.factories.users import make_user

    assert client.get(EXPORT_URL).status_code == 302
    client.force_login(make_user("no-perms", is_staff=False))
    assert client.get(EXPORT_URL).status_code == 403
