"""Catalog services: writing products, importing files, exporting CSV, cutting dataset versions.

Import from here (`from products.services import dataset_version_create`); the sub-modules split
the code by sub-domain.
"""

from products.services.catalog import (
    product_bulk_upsert_generated,
    products_generate_and_store,
    products_store_generated,
)
from products.services.exports import catalog_csv_lines, catalog_csv_rows
from products.services.import_files import CATALOG_COLUMNS, ImportIssue
from products.services.imports import ImportReport, products_import
from products.services.snapshots import (
    OOD_EXTRA_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPLITS,
    dataset_version_create,
    dataset_version_create_golden,
    dataset_version_create_ood,
    dataset_version_file_bytes,
    dataset_version_read,
    generated_catalog_frame,
    split_for_sku,
)
from products.services.writers import CatalogWriteResult

__all__ = [
    "CATALOG_COLUMNS",
    "OOD_EXTRA_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "SPLITS",
    "CatalogWriteResult",
    "ImportIssue",
    "ImportReport",
    "catalog_csv_lines",
    "catalog_csv_rows",
    "dataset_version_create",
    "dataset_version_create_golden",
    "dataset_version_create_ood",
    "dataset_version_file_bytes",
    "dataset_version_read",
    "generated_catalog_frame",
    "product_bulk_upsert_generated",
    "products_generate_and_store",
    "products_import",
    "products_store_generated",
    "split_for_sku",
]
