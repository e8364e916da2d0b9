"""Writing generated products on PostgreSQL: COPY for new products, a merge for existing ones.

New products are COPYed (binary) straight into their tables with ids taken from the sequence in one
statement; existing ones are COPYed into temporary tables and merged with one
`INSERT … ON CONFLICT … WHERE … IS DISTINCT FROM` per table, so unchanged rows are never rewritten.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from products.generator import GeneratedProduct
from products.services.writers import CatalogWriteResult

logger = logging.getLogger(__name__)


_PRODUCT_COPY_TYPES = [
    "int8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "numeric",
    "numeric",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
]
_CREATIVE_COPY_TYPES = ["int8", "text", "text", "text", "text", "text"]

_STAGING_DDL = """
CREATE TEMPORARY TABLE products_staging_product (
    sku text, title text, category text, brand text, description text, price numeric, rating numeric,
    url text
) ON COMMIT DROP;
CREATE TEMPORARY TABLE products_staging_creative (
    sku text, tone text, channel text, headline text, body text, cta text
) ON COMMIT DROP;
"""

# `xmax = 0` is true for a freshly inserted row and false for one the ON CONFLICT branch updated;
# rows whose values did not change are skipped by the WHERE and returned by neither.
_MERGE_PRODUCTS = """
INSERT INTO products_product AS p
    (sku, title, category, brand, description, price, rating, url, source, created_at, updated_at)
SELECT sku, title, category, brand, description, price, rating, url, %(source)s, %(now)s, %(now)s
FROM products_staging_product
ON CONFLICT (sku) DO UPDATE SET
    title = EXCLUDED.title, category = EXCLUDED.category, brand = EXCLUDED.brand,
    description = EXCLUDED.description, price = EXCLUDED.price, rating = EXCLUDED.rating,
    url = EXCLUDED.url, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
WHERE (p.title, p.category, p.brand, p.description, p.price, p.rating, p.url, p.source)
    IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.category, EXCLUDED.brand, EXCLUDED.description,
                      EXCLUDED.price, EXCLUDED.rating, EXCLUDED.url, EXCLUDED.source)
RETURNING p.id, (p.xmax = 0) AS inserted
"""

_MERGE_CREATIVES = """
INSERT INTO products_referencecreative AS c (product_id, tone, channel, headline, body, cta)
SELECT p.id, s.tone, s.channel, s.headline, s.body, s.cta
FROM products_staging_creative s JOIN products_product p ON p.sku = s.sku
ON CONFLICT (product_id, tone, channel) DO UPDATE SET
    headline = EXCLUDED.headline, body = EXCLUDED.body, cta = EXCLUDED.cta
WHERE (c.headline, c.body, c.cta) IS DISTINCT FROM (EXCLUDED.headline, EXCLUDED.body, EXCLUDED.cta)
RETURNING c.product_id
"""


class PostgresWriter:
    """New products are COPYed straight into their tables with ids taken from the sequence; products
    that already exist go through temporary tables and the merge statements.

    Which skus exist is asked for the first chunk and after any chunk that held existing products;
    once a chunk was all new (a fresh catalog), the next one is COPYed without asking. A product that
    exists anyway (a concurrent writer, or a catalog that overlaps further on) makes the COPY fail on
    the unique sku: its savepoint rolls back and the whole chunk takes the merge path.
    """

    def __init__(self) -> None:
        self.expect_new = False

    def __call__(self, items: Sequence[GeneratedProduct], source: str) -> CatalogWriteResult:
        with connection.cursor() as cursor:
            # Bulk writes of a regenerable catalog: not waiting for the WAL flush at each chunk's
            # commit; a crash can at worst lose the last chunks, which a re-run restores.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            existing = (
                set() if self.expect_new else _postgres_existing_skus(cursor, [item.sku for item in items])
            )
            new_items = [item for item in items if item.sku not in existing]
            old_items = [item for item in items if item.sku in existing]
            result = CatalogWriteResult()
            if new_items:
                try:
                    # The raw psycopg cursor raises psycopg's errors; the wrapper makes them Django's.
                    with transaction.atomic(), connection.wrap_database_errors:
                        _postgres_copy_new(cursor, new_items, source)
                    result = CatalogWriteResult(created=len(new_items))
                except IntegrityError:
                    logger.info("Some of these skus exist after all; merging the whole chunk")
                    old_items = list(items)
            if old_items:
                result += _postgres_merge(cursor, old_items, source)
            self.expect_new = not old_items
        return result


def _postgres_existing_skus(cursor, skus: list[str]) -> set[str]:
    cursor.execute("SELECT sku FROM products_product WHERE sku = ANY(%s)", [skus])
    return {row[0] for row in cursor.fetchall()}


def _postgres_copy_new(cursor, items: Sequence[GeneratedProduct], source: str) -> None:
    cursor.execute("SELECT pg_get_serial_sequence('products_product', 'id')")
    sequence = cursor.fetchone()[0]
    # The sequence is resolved once: resolving it per row costs more than the nextval itself.
    cursor.execute(
        "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)", [sequence, len(items)]
    )
    ids = cursor.fetchone()[0]
    now = timezone.now()
    raw = cursor.cursor
    with raw.copy(
        "COPY products_product (id, sku, title, category, brand, description, price, rating, url, "
        "source, created_at, updated_at) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_PRODUCT_COPY_TYPES)
        for product_id, item in zip(ids, items, strict=True):
            copy.write_row(
                (
                    product_id,
                    item.sku,
                    item.title,
                    item.category,
                    item.brand,
                    item.description,
                    item.price,
                    item.rating,
                    item.url,
                    source,
                    now,
                    now,
                )
            )
    with raw.copy(
        "COPY products_referencecreative (product_id, tone, channel, headline, body, cta) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_CREATIVE_COPY_TYPES)
        for product_id, item in zip(ids, items, strict=True):
            for c in item.creatives:
                copy.write_row((product_id, c.tone, c.channel, c.headline, c.body, c.cta))


def _postgres_merge(cursor, items: Sequence[GeneratedProduct], source: str) -> CatalogWriteResult:
    """Merge products that may exist: COPY into temporary tables (dropped at commit), then one
    `INSERT … ON CONFLICT` per table that rewrites only the rows whose values differ.

    The generator always writes one creative per (tone, channel), and a product holds at most one
    per (tone, channel) (a unique constraint), so merging by them leaves no stale creative behind.
    """
    cursor.execute(_STAGING_DDL)
    raw = cursor.cursor
    with raw.copy(
        "COPY products_staging_product (sku, title, category, brand, description, price, rating, url) "
        "FROM STDIN"
    ) as copy:
        for item in items:
            copy.write_row(
                (
                    item.sku, item.title, item.category, item.brand, item.description, item.price,
                    item.rating, item.url,
                )
            )  # fmt: skip
    with raw.copy(
        "COPY products_staging_creative (sku, tone, channel, headline, body, cta) FROM STDIN"
    ) as copy:
        for item in items:
            for c in item.creatives:
                copy.write_row((item.sku, c.tone, c.channel, c.headline, c.body, c.cta))
    cursor.execute(_MERGE_PRODUCTS, {"source": source, "now": timezone.now()})
    product_rows = cursor.fetchall()
    cursor.execute(_MERGE_CREATIVES)
    changed_creative_product_ids = {row[0] for row in cursor.fetchall()}
    cursor.execute("DROP TABLE products_staging_product, products_staging_creative")
    created = {product_id for product_id, inserted in product_rows if inserted}
    rewritten = {product_id for product_id, inserted in product_rows if not inserted}
    updated = (rewritten | changed_creative_product_ids) - created
    return CatalogWriteResult(len(created), len(updated), len(items) - len(created) - len(updated))


def postgres_store_parallel(
    chunks: Iterable[Sequence[GeneratedProduct]],
    source: str,
    *,
    connections: int,
    progress: Callable[[int], None] | None = None,
) -> CatalogWriteResult:
    """Write chunks through `connections` database connections at once, each chunk in its own
    transaction. Most of a chunk's cost is server work (index upkeep, the foreign-key checks at
    commit), and one connection is one server process: several connections use several cores.

    The first error stops the feeding and is raised here once the workers have stopped; chunks
    already committed stay committed, exactly as with one connection.
    """
    tasks: queue.Queue = queue.Queue(maxsize=connections)
    outcomes: queue.Queue = queue.Queue()
    failed = threading.Event()

    def work() -> None:
        write = PostgresWriter()
        try:
            while (chunk := tasks.get()) is not None:
                if failed.is_set():
                    continue  # drain: the caller is about to raise
                try:
                    with transaction.atomic():
                        written = write(chunk, source)
                except BaseException as error:
                    failed.set()
                    outcomes.put((0, error))
                else:
                    outcomes.put((len(chunk), written))  # after the commit
        finally:
            connection.close()  # this thread's own connection

    workers = [
        threading.Thread(target=work, name=f"catalog-writer-{n}", daemon=True) for n in range(connections)
    ]
    for worker in workers:
        worker.start()
    result, errors = CatalogWriteResult(), []

    def collect() -> None:
        nonlocal result
        while not outcomes.empty():
            stored, outcome = outcomes.get()
            if isinstance(outcome, BaseException):
                errors.append(outcome)
                continue
            result += outcome
            if progress is not None:
                progress(stored)

    try:
        for chunk in chunks:
            collect()
            if failed.is_set():
                break
            tasks.put(chunk)
    finally:
        for _ in workers:
            tasks.put(None)
        for worker in workers:
            worker.join()
        collect()
    if errors:
        raise errors[0]
    return result
