"""Storing the generated catalog: the generator streamed in chunks into the database.

Two writers share one contract (`CatalogWriteResult`): the ORM writer (`writers.py`, SQLite) and
the PostgreSQL writer (`writers_postgres.py`: COPY for new products, a merge for existing ones).
Re-writing the same product updates it in place (the sku is unique) and leaves unchanged rows
untouched, so a re-run with the same seed never duplicates and never rewrites what did not change.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from itertools import islice

from django.conf import settings
from django.db import connection, transaction

from creativeops.core.errors import ApplicationError
from products.generator import SEED_LIMIT, GeneratedProduct, iter_catalog
from products.models import Product
from products.services.writers import CatalogWriteResult, orm_write_chunk
from products.services.writers_postgres import PostgresWriter, postgres_store_parallel

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
PARALLEL_WRITERS = 3


def chunked(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


_DONE = object()


def chunked_ahead(items: Iterable, size: int, *, depth: int = 2) -> Iterator[list]:
    """`chunked`, with the next chunks produced by a background thread while the caller works.

    Generation is pure Python while writing mostly waits on the database server (the GIL is
    released while waiting), so the two overlap. Only the producer's pure Python work runs in the
    thread: it never touches the database. An error in the producer is raised in the consumer; a
    consumer that stops early stops the producer.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunked(items, size):
                if not _put(chunk):
                    return
            _put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            _put(error)

    def _put(value) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    producer = threading.Thread(target=produce, name="catalog-chunks", daemon=True)
    producer.start()
    try:
        while (value := slots.get()) is not _DONE:
            if isinstance(value, BaseException):
                raise value
            yield value
    finally:
        stop.set()
        producer.join()


# --------------------------------------------------------------------------------------------
# Generated catalog
# --------------------------------------------------------------------------------------------


def product_bulk_upsert_generated(
    *,
    count: int,
    seed: int,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> CatalogWriteResult:
    """Generate `count` products for `seed` and store them with their reference creatives.

    The generator is streamed chunk by chunk, so 100,000 products never sit in memory at once; each
    chunk is committed on its own (a product and its creatives always in the same transaction), and
    `progress(n)` is called after each chunk with the number of products it stored.
    """
    if count < 0:
        raise ApplicationError(f"count must be 0 or more; got {count}.", field="count")
    if not 0 <= seed < SEED_LIMIT:
        raise ApplicationError(f"seed must be from 0 to {SEED_LIMIT - 1}; got {seed}.", field="seed")
    return products_store_generated(
        products=iter_catalog(count, seed), seed=seed, chunk_size=chunk_size, progress=progress
    )


def products_generate_and_store(
    *, count: int, seed: int, progress: Callable[[int], None] | None = None
) -> int:
    """`product_bulk_upsert_generated` for callers that need only how many products were stored."""
    return product_bulk_upsert_generated(count=count, seed=seed, progress=progress).total


def products_store_generated(
    *,
    products: Iterable[GeneratedProduct],
    seed: int,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> CatalogWriteResult:
    """Store products generated for `seed` (the generate API persists what it has just answered).

    The golden evaluation set is generated from its own seed and must never be trained on, so
    products of that seed are refused here, whoever asks.
    """
    _refuse_golden_seed(seed)
    source = Product.Source.GENERATED
    with closing(chunked_ahead(products, chunk_size)) as chunks:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # Each chunk commits on its own anyway, so chunks can go through several connections.
            result = postgres_store_parallel(chunks, source, connections=PARALLEL_WRITERS, progress=progress)
        else:
            # Inside a caller's transaction every write must stay on the caller's connection.
            write_chunk = PostgresWriter() if connection.vendor == "postgresql" else orm_write_chunk
            result = CatalogWriteResult()
            for chunk in chunks:
                with transaction.atomic():
                    result += write_chunk(chunk, source)
                if progress is not None:
                    progress(len(chunk))
    logger.info(
        "Stored %d generated products: %d created, %d updated, %d unchanged",
        result.total,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def _refuse_golden_seed(seed: int) -> None:
    golden_seed = settings.CREATIVEOPS["GOLDEN_SET_SEED"]
    if seed == golden_seed:
        raise ApplicationError(
            f"Seed {golden_seed} is the golden evaluation set's seed (GOLDEN_SET_SEED): its products must "
            "never be stored and trained on. Pick another seed.",
            field="seed",
        )
