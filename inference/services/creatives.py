"""Storing creatives: the one write path for `Creative` rows, which keeps `is_current` true on exactly
one row per (product, model version, tone).

Marketers see the current creative of each key: the newest one a person asked for (regenerate, API),
else the one the catalog refresh wrote. Deciding that at read time costs a correlated subquery per
row (seconds on a 100,000-product catalog), so it is decided here, once per write, and the pages
read a flag behind an index. The database enforces one current row per key
(`creative_one_current_per_version_tone`); writers of the same products take turns on the products'
row locks, so two concurrent writes cannot both believe they are the newest.
"""

from __future__ import annotations

from django.db import transaction

from inference.models import Creative
from inference.services.lint import creatives_lint
from products.models import Product

Key = tuple[int, int, str]


def creatives_store(*, rows: list[Creative], source: str) -> list[Creative]:
    """Insert `rows` (all written with `source`) and move the current flag of their keys.

    * A person's creative (any source but refresh) becomes current, and the row it replaces is no
      longer; among several rows of one key in `rows` (variants), the last one wins (highest id).
    * A refresh row becomes current only where its key has no current row: a marketer's regenerated
      copy wins over the refresh even when the refresh, still running after a promotion, reaches that
      product later. A refresh row already written for its key (a redelivered task) is dropped.

    Every row gets its ad-policy findings (`lint`) here, the one place creatives are written.
    """
    if not rows:
        return []
    for row in rows:
        row.source = source
    creatives_lint(rows=rows)
    with transaction.atomic():
        current = _lock_current_keys(rows)
        if source == Creative.Source.REFRESH:
            for row in rows:
                row.is_current = _key(row) not in current
            Creative.objects.bulk_create(rows, ignore_conflicts=True)
            return rows
        _clear_current(current)
        last = {_key(row): index for index, row in enumerate(rows)}
        for index, row in enumerate(rows):
            row.is_current = last[_key(row)] == index
        return Creative.objects.bulk_create(rows)


def _key(row: Creative) -> Key:
    return (row.product_id, row.model_version_id, row.tone)


def _lock_current_keys(rows: list[Creative]) -> dict[Key, int]:
    """Lock the rows' products (in primary-key order, so writers never deadlock), then read the
    current creative of each of the rows' keys: {key: creative id}."""
    keys = {_key(row) for row in rows}
    product_ids = sorted({product_id for product_id, _, _ in keys})
    list(Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk").values_list("pk"))
    found = Creative.objects.current().filter(
        product_id__in=product_ids, model_version_id__in={version_id for _, version_id, _ in keys}
    )
    return {
        key: creative_id
        for creative_id, *key_values in found.values_list("id", "product_id", "model_version_id", "tone")
        if (key := tuple(key_values)) in keys
    }


def _clear_current(current: dict[Key, int]) -> None:
    if current:
        Creative.objects.filter(id__in=current.values()).update(is_current=False)
