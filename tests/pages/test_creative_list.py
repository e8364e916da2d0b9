from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import ModelVersion
from tests.factories.users import make_user
from tests.pages.builders import (
    make_catalog_creatives,
    make_creative,
    make_model_version,
    make_product,
    page_text,
)

pytestmark = pytest.mark.django_db
LIST_URL = reverse("creatives:list")


def listed_headlines(response) -> list[str]:
    return [creative.headline for creative in response.context["page_obj"].object_list]


@pytest.fixture
def catalog():
    """Two versions: v1 archived, v2 in production. Products differ in category, brand and price."""
    archived = make_model_version(1, status=ModelVersion.Status.ARCHIVED)
    production = make_model_version(2, status=ModelVersion.Status.PRODUCTION)
    kettle = make_product(
        "KIT-1", title="Copper Kettle", category="Home & Kitchen", brand="Hearthly", price="49.00"
    )
    tent = make_product("OUT-1", title="Storm Tent", category="Outdoor", brand="Ridgeway", price="199.00")
    lamp = make_product("ELE-1", title="Desk Lamp", category="Electronics", brand="Lumenix", price="25.50")
    for product in (kettle, tent, lamp):
        make_creative(product, archived, "bold", headline=f"OLD {product.title}")
        make_creative(product, production, "bold", headline=f"{product.title}: bold")
        make_creative(product, production, "value", headline=f"{product.title}: value")
    return {"archived": archived, "production": production, "kettle": kettle, "tent": tent, "lamp": lamp}


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={LIST_URL}"


def test_user_without_view_creative_gets_403(client):
    client.force_login(make_user("nobody", is_staff=False))

    assert client.get(LIST_URL).status_code == 403


def test_shows_the_production_models_latest_creative_per_product_and_tone(marketer_client, catalog):
    # A regenerated bold creative replaces the earlier one on the list.
    make_creative(
        catalog["kettle"],
        catalog["production"],
        "bold",
        headline="Copper Kettle: bold again",
        source="regenerate",
    )

    response = marketer_client.get(LIST_URL)

    assert response.status_code == 200
    assert sorted(listed_headlines(response)) == [
        "Copper Kettle: bold again",
        "Copper Kettle: value",
        "Desk Lamp: bold",
        "Desk Lamp: value",
        "Storm Tent: bold",
        "Storm Tent: value",
    ]
    assert response.context["model_version"] == catalog["production"]
    assert "Showing 1–6 of 6 creatives." in page_text(response)


def test_a_marketers_regenerated_copy_wins_over_a_refresh_written_after_it(marketer_client, catalog):
    # The refresh after a promotion may reach a product after a marketer regenerated it.
    lamp = make_product("ELE-2", title="Floor Lamp", category="Electronics", brand="Lumenix", price="80.00")
    make_creative(lamp, catalog["production"], "luxury", headline="Regenerated first", source="regenerate")
    make_creative(lamp, catalog["production"], "luxury", headline="Refresh, later", source="refresh")

    response = marketer_client.get(LIST_URL, {"q": "Floor Lamp"})

    assert listed_headlines(response) == ["Regenerated first"]


def test_filters_by_category_tone_brand_and_price(marketer_client, catalog):
    by_category = marketer_client.get(LIST_URL, {"category": "Outdoor"})
    by_tone = marketer_client.get(LIST_URL, {"tone": "value"})
    by_brand = marketer_client.get(LIST_URL, {"brand": "lumenix"})  # case does not matter
    by_price = marketer_client.get(LIST_URL, {"price_min": "25.50", "price_max": "49"})

    assert sorted(listed_headlines(by_category)) == ["Storm Tent: bold", "Storm Tent: value"]
    assert sorted(listed_headlines(by_tone)) == [
        "Copper Kettle: value",
        "Desk Lamp: value",
        "Storm Tent: value",
    ]
    assert sorted(listed_headlines(by_brand)) == ["Desk Lamp: bold", "Desk Lamp: value"]
    assert sorted(listed_headlines(by_price)) == [
        "Copper Kettle: bold",
        "Copper Kettle: value",
        "Desk Lamp: bold",
        "Desk Lamp: value",
    ]


def test_model_version_filter_shows_what_an_earlier_version_wrote(marketer_client, catalog):
    response = marketer_client.get(LIST_URL, {"version": "1"})

    assert sorted(listed_headlines(response)) == ["OLD Copper Kettle", "OLD Desk Lamp", "OLD Storm Tent"]
    assert response.context["model_version"] == catalog["archived"]


def test_search_matches_product_title_and_headline(marketer_client, catalog):
    make_creative(catalog["lamp"], catalog["production"], "luxury", headline="Glow like a kettle fire")

    response = marketer_client.get(LIST_URL, {"q": "KETTLE"})

    assert sorted(listed_headlines(response)) == [
        "Copper Kettle: bold",
        "Copper Kettle: value",
        "Glow like a kettle fire",
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["Copper Kettle: bold", "Copper Kettle: value", "Desk Lamp: bold", "Desk Lamp: value"]),
        ("price", ["Desk Lamp: bold", "Desk Lamp: value", "Copper Kettle: bold", "Copper Kettle: value"]),
        ("-price", ["Storm Tent: bold", "Storm Tent: value", "Copper Kettle: bold", "Copper Kettle: value"]),
        ("newest", ["Desk Lamp: value", "Desk Lamp: bold", "Storm Tent: value", "Storm Tent: bold"]),
    ],
)
def test_sorting(marketer_client, catalog, sort, expected):
    response = marketer_client.get(LIST_URL, {"sort": sort})

    assert listed_headlines(response)[:4] == expected


def test_invalid_filters_answer_400_naming_the_field_and_the_limit(marketer_client, catalog):
    response = marketer_client.get(LIST_URL, {"price_min": "50", "price_max": "10", "tone": "grumpy"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["price_max"] == ["“Price to” (10) must not be below “Price from” (50)."]
    assert errors["tone"] == ["Select a valid choice. grumpy is not one of the available choices."]
    negative = marketer_client.get(LIST_URL, {"price_min": "-1"})
    assert negative.context["form"].errors["price_min"] == [
        "Ensure this value is greater than or equal to 0."
    ]
    assert "Some filters are not valid; correct the fields marked above." in page_text(response)


def test_without_a_production_model_the_page_says_so(marketer_client):
    version = make_model_version(1, status=ModelVersion.Status.ARCHIVED)
    make_creative(make_product("A-1"), version, "bold")

    response = marketer_client.get(LIST_URL)

    assert response.status_code == 200
    assert "No model is in production yet." in page_text(response)
    assert response.context["page_obj"] is None


def test_rejected_versions_are_not_offered(marketer_client, catalog):
    make_model_version(3, status=ModelVersion.Status.REJECTED)

    response = marketer_client.get(LIST_URL, {"version": "3"})

    assert response.status_code == 400
    assert "version" in response.context["form"].errors


class TestPagination:
    @pytest.fixture
    def many_creatives(self):
        production = make_model_version(1, status=ModelVersion.Status.PRODUCTION)
        products = [
            make_product(f"SKU-{index:03d}", title=f"Item {index:03d}", price=Decimal(10 + index))
            for index in range(40)
        ]
        return make_catalog_creatives(production, products)  # 160 creatives: 7 pages of 25

    def test_every_page_costs_the_same_number_of_queries(
        self, marketer_client, many_creatives, django_assert_num_queries
    ):
        with CaptureQueriesContext(connection) as first_page:
            response = marketer_client.get(LIST_URL, {"page": 1, "sort": "price"})
        assert response.status_code == 200
        assert len(response.context["page_obj"].object_list) == 25

        for page in (5, 7):
            with django_assert_num_queries(len(first_page.captured_queries)):
                response = marketer_client.get(LIST_URL, {"page": page, "sort": "price"})
            assert response.context["page_obj"].number == page

    def test_pages_do_not_overlap_and_cover_every_row(self, marketer_client, many_creatives):
        seen = []
        for page in range(1, 8):
            response = marketer_client.get(LIST_URL, {"page": page})
            seen += [creative.pk for creative in response.context["page_obj"].object_list]

        assert len(seen) == len(set(seen)) == 160
        assert "Showing 151–160 of 160 creatives." in page_text(response)

    def test_the_count_stops_at_the_cap(self, marketer_client, many_creatives, monkeypatch):
        from inference.selectors_pages import CappedPaginator

        monkeypatch.setattr(CappedPaginator, "count_cap", 100)

        response = marketer_client.get(LIST_URL, {"page": 2})

        assert response.context["paginator"].count_is_capped
        assert response.context["paginator"].num_pages == 4
        assert "Showing 26–50 of more than 100 creatives." in page_text(response)

    def test_a_search_reads_its_sorted_matches_once_for_the_count_and_every_page(
        self, marketer_client, many_creatives, monkeypatch
    ):
        from inference.selectors_pages import CappedPaginator

        with CaptureQueriesContext(connection) as listing:
            marketer_client.get(LIST_URL, {"page": 1})
        seen = []
        for page in range(1, 8):
            with CaptureQueriesContext(connection) as search:
                response = marketer_client.get(LIST_URL, {"page": page, "q": "item 0"})
            seen += [creative.pk for creative in response.context["page_obj"].object_list]
            # The count and the page's ids come from one query instead of two.
            assert len(search.captured_queries) == len(listing.captured_queries) - 1

        assert seen == [creative.pk for creative in _listing_order(marketer_client)]
        assert "Showing 151–160 of 160 creatives." in page_text(response)

        monkeypatch.setattr(CappedPaginator, "count_cap", 100)
        response = marketer_client.get(LIST_URL, {"page": 4, "q": "item 0"})
        assert response.context["paginator"].count_is_capped
        assert "Showing 76–100 of more than 100 creatives." in page_text(response)
        assert [creative.pk for creative in response.context["page_obj"].object_list] == seen[75:100]


def _listing_order(client) -> list:
    rows = []
    for page in range(1, 8):
        rows += client.get(LIST_URL, {"page": page}).context["page_obj"].object_list
    return rows
