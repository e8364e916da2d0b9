"""The SQL behind /creatives/: what keeps the page fast on a 100,000-product catalog, checked on any data.

Timings are for `manage.py benchmark_pages`; these tests hold the shapes that make them: no subquery
evaluated per row (the "current creative" is a stored flag), the same queries for any page, page size,
sort, search or filter, and the filter choices read without a pass over the catalog.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inference.models import Creative
from inference.pages import views
from inference.search import HEADLINE_FTS_TABLE, headline_search_index_ensure
from inference.selectors_pages import catalog_brands, catalog_categories
from registry.models import ModelVersion
from tests.pages.builders import make_catalog_creatives, make_creative, make_model_version, make_product

pytestmark = pytest.mark.django_db
LIST_URL = reverse("creatives:list")
CASES = {
    "page 1": {},
    "page 2": {"page": "2"},
    "last page": {"page": "7"},
    "newest": {"sort": "newest"},
    "price": {"sort": "-price", "page": "3"},
    "search": {"q": "Item 01"},
    "short search": {"q": "01"},
    "filter": {"category": "Garden", "tone": "bold", "brand": "Sprout Lane", "price_min": "12"},
}


@pytest.fixture
def catalog():
    production = make_model_version(1, status=ModelVersion.Status.PRODUCTION)
    products = [
        make_product(f"SKU-{index:03d}", title=f"Item {index:03d}", price=Decimal(10 + index))
        for index in range(40)
    ]
    make_catalog_creatives(production, products)
    make_creative(products[0], production, "bold", headline="Regenerated", source=Creative.Source.REGENERATE)
    return production


def page_queries(client, params: dict) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST_URL, params)
    assert response.status_code == 200
    assert response.context["page_obj"].object_list, params  # every case shows rows
    return [query["sql"] for query in queries.captured_queries]


def test_no_query_of_the_list_runs_a_subquery_per_row(marketer_client, catalog):
    # The latest creative per product and tone was a correlated NOT EXISTS: seconds at 8,000 rows.
    for label, params in CASES.items():
        creative_queries = [
            sql for sql in page_queries(marketer_client, params) if "inference_creative" in sql
        ]

        assert creative_queries, label
        for sql in creative_queries:
            assert not re.search(r"\bEXISTS\b", sql, re.IGNORECASE), (label, sql)


def test_the_same_number_of_queries_for_every_page_size_sort_search_and_filter(
    marketer_client, catalog, monkeypatch
):
    # A search costs one query fewer: it reads its matches once for the count and the page.
    def cost(params):
        return len(page_queries(marketer_client, params)) + (1 if params.get("q") else 0)

    counts = {label: cost(params) for label, params in CASES.items()}
    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    counts |= {f"{label}, 10 a page": cost(params) for label, params in CASES.items()}

    assert len(set(counts.values())) == 1, counts
    assert any(params.get("q") for params in CASES.values())


def test_a_search_matches_text_literally_whatever_its_characters(marketer_client, catalog):
    product = make_product("SKU-900", title="Lamp")
    make_creative(product, catalog, "value", headline='Save 50% "now" _today_')
    make_creative(product, catalog, "luxury", headline="Save 500 now")

    for text in ('50% "now"', "_today_", '% "NOW', "AVE 50%"):
        response = marketer_client.get(LIST_URL, {"q": text})
        headlines = [creative.headline for creative in response.context["page_obj"].object_list]
        assert headlines == ['Save 50% "now" _today_'], text


def test_the_filter_choices_are_the_distinct_values_in_order_in_one_query_each(
    catalog, django_assert_num_queries
):
    make_product("SKU-901", category="Outdoor", brand="Ridgeway")
    make_product("SKU-902", category="Beauty", brand="Ridgeway")

    with django_assert_num_queries(2):
        categories, brands = catalog_categories(), catalog_brands()

    assert categories == ["Beauty", "Garden", "Outdoor"]
    assert brands == ["Ridgeway", "Sprout Lane"]


def test_sqlite_search_index_survives_a_table_rebuild(marketer_client, catalog):
    # Django rebuilds a SQLite table for most field changes, dropping its triggers; the next
    # migrate's post_migrate makes them again and re-reads every headline.
    if connection.vendor != "sqlite":
        pytest.skip("the FTS5 search index is SQLite's (PostgreSQL uses pg_trgm indexes)")
    with connection.cursor() as cursor:
        for event in ("insert", "delete", "update"):
            cursor.execute(f"DROP TRIGGER {HEADLINE_FTS_TABLE}_{event}")
    product = make_product("SKU-950", title="Lamp")
    make_creative(product, catalog, "value", headline="Written while the triggers were gone")

    headline_search_index_ensure()
    make_creative(product, catalog, "luxury", headline="Written after the triggers came back")

    response = marketer_client.get(LIST_URL, {"q": "triggers"})
    assert sorted(creative.headline for creative in response.context["page_obj"].object_list) == [
        "Written after the triggers came back",
        "Written while the triggers were gone",
    ]
