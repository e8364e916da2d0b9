"""Exporting the catalog as CSV in exactly the format the importer reads (an export imports back
unchanged): one row per reference creative with its channel, a product without creatives as one row
with empty channel, tone, headline, body and cta. Every cell that a spreadsheet would run as a
formula (`=`, `+`, `-`, `@`, tab, carriage return) is written with a leading apostrophe, as the
creatives export does; the importer removes that apostrophe again (creativeops/core/spreadsheet.py)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from creativeops.core.spreadsheet import spreadsheet_cell
from products.models import Product
from products.services.import_files import CATALOG_COLUMNS

EXPORT_CHUNK = 2_000


class _Line:
    """A file-like that hands back what csv.writer writes, so rows stream one by one."""

    def write(self, value: str) -> str:
        return value


def catalog_csv_rows(*, products: QuerySet[Product] | Iterable[Product]) -> Iterator[list[str]]:
    """The header, then the rows of `products` (their creatives are fetched a chunk at a time)."""
    yield list(CATALOG_COLUMNS)
    if isinstance(products, QuerySet):
        products = products.prefetch_related("reference_creatives").iterator(chunk_size=EXPORT_CHUNK)
    for product in products:
        fields = [
            product.sku,
            product.title,
            product.category,
            product.brand,
            product.description,
            str(product.price),
            str(product.rating),
            product.url,
        ]
        creatives = sorted(
            product.reference_creatives.all(), key=lambda creative: (creative.channel, creative.tone)
        )
        if not creatives:
            yield [spreadsheet_cell(value) for value in (*fields, "", "", "", "", "")]
        for creative in creatives:
            values = (
                *fields,
                creative.channel,
                creative.tone,
                creative.headline,
                creative.body,
                creative.cta,
            )
            yield [spreadsheet_cell(value) for value in values]


def catalog_csv_lines(*, products: QuerySet[Product] | Iterable[Product]) -> Iterator[str]:
    """CSV text line by line, for a streaming HTTP response or a file."""
    writer = csv.writer(_Line())
    for row in catalog_csv_rows(products=products):
        yield writer.writerow(row)
