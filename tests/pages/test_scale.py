"""The creatives page at catalog scale: 25,000 products x 4 tones = 100,000 creatives of production.

PostgreSQL only (the deployment's database) and marked slow: it inserts 100,000 rows. Prints the
time of each request so the figure in a report can be reproduced with
`pytest tests/pages/test_scale.py -s -m slow` against a PostgreSQL DATABASE_URL.
"""

from __future__ import annotations

import time

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
                (product_id, model_version_id, tone, headline, body, cta, source, created_at)
            SELECT p.id, %s, tone, p.title || ' in ' || tone, 'Body.', 'Shop now', 'refresh', now()
            FROM products_product p CROSS JOIN unnest(ARRAY['bold', 'luxury', 'value', 'playful']) AS tone
            """,
            [model_version.pk],
        )
        cursor.execute("ANALYZE products_product; ANALYZE inference_creative;")


def timed_get(client, params: dict) -> tuple[float, int, object]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(reverse("creatives:list"), params)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return elapsed, len(queries.captured_queries), response


def test_list_pages_stay_fast_and_constant_at_100k_creatives(on_postgres, marketer_client):
    insert_catalog(make_model_version(1, status=ModelVersion.Status.PRODUCTION))
    marketer_client.get(reverse("creatives:list"))  # warm caches (content types, permissions)

    results = {}
    for label, params in {
        "page 1, title": {"page": 1},
        "page 5, title": {"page": 5},
        "page 400, price": {"page": 400, "sort": "price"},
        "page 1, newest": {"sort": "newest"},
        "filtered + search": {"category": "Garden", "tone": "bold", "q": "product 12", "price_min": "10"},
    }.items():
        elapsed, query_count, response = timed_get(marketer_client, params)
        results[label] = (elapsed, query_count)
        rows = len(response.context["page_obj"])
        print(f"{label:>20}: {elapsed * 1000:7.1f} ms, {query_count} queries, {rows} rows")

    assert len({query_count for _, query_count in results.values()}) == 1, results
    assert results["page 1, title"][1] == results["page 5, title"][1]
    # Generous bound for a shared 2-core CI machine; a typical run is far below it.
    assert max(elapsed for elapsed, _ in results.values()) < 3.0, results
