"""The creatives page at catalog scale: 25,000 products x 4 tones = 100,000 creatives of production.

PostgreSQL only (the deployment's database) and marked slow: it inserts 100,000 rows, enough for the
planner to choose as it would on a real catalog. It checks the plans, not the clock (the timings are
`manage.py benchmark_pages`, see the README): no query of any case joins the creatives with
themselves or runs a subquery per row, and every case costs the same number of queries.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import ModelVersion
from tests.pages.builders import make_model_version

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db]
PRODUCTS = 25_000
CATEGORIES = ("Outdoor", "Garden", "Electronics", "Beauty", "Office")


def insert_catalog(model_version: ModelVersion) -> None:
    """Set-based inserts: building 100,000 model instances in Python would dominate the test."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO products_product
                (sku, title, category, brand, description, price, rating, source, created_at, updated_at)
            SELECT 'SCALE-' || lpad(n::text, 6, '0'), 'Scale product ' || n, (%s::text[])[1 + n %% 5],
                   'Brand ' || (n %% 60), 'A product.', 5 + (n %% 400), 4.0, 'generated', now(), now()
            FROM generate_series(1, %s) AS n
            """,
            [list(CATEGORIES), PRODUCTS],
        )
        cursor.execute(
            """
            INSERT INTO inference_creative
                (product_id, model_version_id, tone, headline, body, cta, source, created_at, is_current)
            SELECT p.id, %s, tone, p.title || ' in ' || tone, 'Body.', 'Shop now', 'refresh', now(), TRUE
            FROM products_product p CROSS JOIN unnest(ARRAY['bold', 'luxury', 'value', 'playful']) AS tone
            """,
            [model_version.pk],
        )
        cursor.execute("ANALYZE products_product; ANALYZE inference_creative;")


def page_queries(client, params: dict) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("creatives:list"), params)
    assert response.status_code == 200
    assert len(response.context["page_obj"]) == 25, params
    return [query["sql"] for query in queries.captured_queries]


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_list_plans_have_no_subquery_per_row_and_the_same_queries_at_100k(on_postgres, marketer_client):
    insert_catalog(make_model_version(1, status=ModelVersion.Status.PRODUCTION))
    marketer_client.get(reverse("creatives:list"))  # warm caches (content types, permissions)

    query_counts = {}
    for label, params in {
        "page 1, title": {"page": 1},
        "page 400, title": {"page": 400},
        "page 400, price": {"page": 400, "sort": "price"},
        "page 1, newest": {"sort": "newest"},
        "search": {"q": "product 12"},
        "filtered + search": {"category": "Garden", "tone": "bold", "q": "product 12", "price_min": "10"},
    }.items():
        queries = page_queries(marketer_client, params)
        query_counts[label] = len(queries) + (1 if params.get("q") else 0)  # a search: one query fewer
        for sql in queries:
            if "inference_creative" in sql:
                explained = plan(sql)
                # The latest row per key read as NOT EXISTS planned as an anti join over the version.
                assert "Anti Join" not in explained, (label, sql, explained)
                assert "SubPlan" not in explained, (label, sql, explained)

    assert len(set(query_counts.values())) == 1, query_counts
