"""Reads of the catalog and of dataset versions, shared by the API, the admin and other apps."""

from __future__ import annotations

from django.db.models import QuerySet

from creativeops.core.errors import ApplicationError
from products.models import DatasetVersion, Product


def product_list(
    *, category: str = "", brand: str = "", source: str = "", search: str = ""
) -> QuerySet[Product]:
    """Products filtered by exact category / brand / source and a search in sku and title."""
    products = Product.objects.all()
    if category:
        products = products.filter(category=category)
    if brand:
        products = products.filter(brand=brand)
    if source:
        products = products.filter(source=source)
    if search:
        products = products.search(search)
    return products.order_by("sku")


def product_get(*, sku: str) -> Product:
    """One product with its reference creatives, or a 404 that names the sku."""
    # A NUL byte cannot be in a stored sku, and PostgreSQL refuses it in a query.
    product = None if "\x00" in sku else Product.objects.with_creatives().filter(sku=sku).first()
    if product is None:
        raise ApplicationError(f"No product with sku '{sku}'.", field="sku", status_code=404)
    return product


def dataset_versions_trainable() -> QuerySet[DatasetVersion]:
    """Training snapshots whose file retention has not deleted, newest first."""
    return DatasetVersion.objects.filter(kind=DatasetVersion.Kind.TRAINING, pruned_at__isnull=True).order_by(
        "-number"
    )
