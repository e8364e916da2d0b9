"""How fast the marketers' creatives page answers at catalog scale. Used by `manage.py benchmark_pages`.

It runs in the sandbox of `inference.benchmark` (a throw-away database, local-memory cache), so it
never reads or writes a user's data. The sandbox is filled like a catalog after two promotions: the
generated catalog (`--products`, default 100,000, with its reference creatives), the refresh creatives
of an archived version and of the production version (every product in every tone), and a few
regenerated creatives per 100 products through the same store service the pages and the API use.
Each page is asked for through Django's test client (middleware, view, template), signed in as a
marketer, taking turns so that a neighbour's load weighs on every case alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inference.benchmark import Timing, measure_interleaved
from inference.models import Creative
from inference.services import creatives_store
from products.models import DatasetVersion, Product, ReferenceCreative
from products.services import product_bulk_upsert_generated
from registry.models import ModelVersion
from registry.selectors import default_model_name
from training.ml.channels import DEFAULT_CHANNEL
from training.models import TrainingRun

P95_TARGET_MS = 150.0
ROW_MARKER = b'<div class="copy-headline">'  # one per creative row of the list page
REGENERATED_EVERY = 100  # one product in this many has a marketer's regenerated creative (2 variants)


@dataclass(frozen=True)
class PageCase:
    label: str
    params: dict[str, str]


@dataclass(frozen=True)
class PageResult:
    case: PageCase
    timing: Timing
    queries: int
    rows: int

    @property
    def passed(self) -> bool:
        return self.timing.p95_ms <= P95_TARGET_MS


def page_cases(*, category: str, search: str) -> list[PageCase]:
    """The pages the issue names: the first and the last reachable page, newest first, a search and a
    category + tone filter (page 400 of 25 rows is the deepest page the capped count lets one reach)."""
    return [
        PageCase("page 1 (title A-Z)", {}),
        PageCase("page 400 (title A-Z)", {"page": "400"}),
        PageCase("page 1, newest first", {"sort": "newest"}),
        PageCase(f"search {search!r}", {"q": search}),
        PageCase(f"{category} + bold", {"category": category, "tone": "bold"}),
    ]


def catalog_fill(*, products: int, seed: int, progress: Callable[[int], None] | None = None) -> ModelVersion:
    """The sandbox's catalog and creatives (see the module docstring); returns the production version."""
    product_bulk_upsert_generated(count=products, seed=seed, progress=progress)
    archived = _register_version(1, ModelVersion.Status.ARCHIVED)
    production = _register_version(2, ModelVersion.Status.PRODUCTION)
    for version in (archived, production):
        _insert_refresh_creatives(version)
    _store_regenerated(production)
    with connection.cursor() as cursor:
        # What autovacuum does to a catalog in use: statistics, and the visibility map that lets
        # PostgreSQL answer from an index alone.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return production


def _register_version(number: int, status: str) -> ModelVersion:
    dataset, _ = DatasetVersion.objects.get_or_create(
        number=1,
        defaults={
            "file": "datasets/benchmark.parquet",
            "sha256": "0" * 64,
            "size_bytes": 0,
            "row_count": 0,
            "product_count": 0,
        },
    )
    run = TrainingRun.objects.create(
        dataset_version=dataset, preset="tiny", status=TrainingRun.Status.SUCCEEDED
    )
    return ModelVersion.objects.create(
        name=default_model_name(),
        version=number,
        training_run=run,
        artifact_uri=f"models/benchmark-v{number}",
        artifact_sha256="0" * 64,
        status=status,
        promoted_at=timezone.now(),
    )


def _insert_refresh_creatives(version: ModelVersion) -> None:
    """One refresh creative per product and tone, copied from the generic reference creatives in one
    INSERT: what `creatives_refresh` writes, without running a model for 400,000 rows."""
    creative, reference = Creative._meta.db_table, ReferenceCreative._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {creative}
                (product_id, model_version_id, tone, headline, body, cta, source, created_at, is_current)
            SELECT product_id, %s, tone, headline, body, cta, %s, %s, %s
            FROM {reference} WHERE channel = %s ORDER BY product_id, tone
            """,
            [version.pk, Creative.Source.REFRESH, timezone.now(), True, DEFAULT_CHANNEL],
        )


def _store_regenerated(version: ModelVersion) -> None:
    """Two regenerated variants in the bold tone for one product in REGENERATED_EVERY, stored by the
    service that stores every creative, so the current row of those products is a regenerated one."""
    products = Product.objects.order_by("pk")[::REGENERATED_EVERY]
    rows = [
        Creative(
            product=product,
            model_version=version,
            tone="bold",
            headline=f"Regenerated {variant}: {product.title}"[:300],
            body="A marketer asked for a fresh take.",
            cta="Shop now",
            source=Creative.Source.REGENERATE,
        )
        for product in products
        for variant in (1, 2)
    ]
    for start in range(0, len(rows), 1000):
        creatives_store(rows=rows[start : start + 1000], source=Creative.Source.REGENERATE)


def marketer_client() -> Client:
    user = get_user_model().objects.create_user("benchmark-marketer", password=None)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inference", codename="view_creative")
    )
    client = Client()
    client.force_login(user)
    return client


def measure_pages(*, client: Client, cases: list[PageCase], runs: int) -> list[PageResult]:
    url = reverse("creatives:list")
    shapes = {case.label: _page_shape(client, url, case) for case in cases}
    calls = {case.label: _getter(client, url, case) for case in cases}
    timings = measure_interleaved(calls, runs)
    return [PageResult(case, timings[case.label], *shapes[case.label]) for case in cases]


def _getter(client: Client, url: str, case: PageCase) -> Callable[[], None]:
    def call() -> None:
        response = client.get(url, case.params)
        if response.status_code != 200:
            raise RuntimeError(f"{url} {case.params} answered {response.status_code}")

    return call


def _page_shape(client: Client, url: str, case: PageCase) -> tuple[int, int]:
    """The queries one request makes and the rows it shows (rows > 0, else the case measures nothing)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, case.params)
    if response.status_code != 200:
        raise RuntimeError(f"{url} {case.params} answered {response.status_code}")
    rows = response.content.count(ROW_MARKER)
    if rows == 0:
        raise RuntimeError(f"{case.label}: the page shows no rows, so it would measure nothing")
    return len(queries.captured_queries), rows


def format_results(results: list[PageResult]) -> str:
    """The table; "cpu p50" is this process's own CPU time (Django, and SQLite, which runs in it): unlike
    wall time it does not grow when neighbours take the cores."""
    lines = [
        f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'queries':>8} {'rows':>5}  "
        f"target p95 <= {P95_TARGET_MS:.0f} ms"
    ]
    for result in results:
        lines.append(
            f"{result.case.label:<34} {result.timing.p50_ms:>8.1f} {result.timing.p95_ms:>8.1f} "
            f"{result.timing.cpu_p50_ms:>8.1f} {result.queries:>8} {result.rows:>5}  "
            f"{'PASS' if result.passed else 'FAIL'}"
        )
    return "\n".join(lines)
