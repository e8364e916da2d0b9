"""The ad-policy lint of stored creatives: each row gets its findings before it is written, and the
findings are counted by rule for Prometheus.

The rules themselves live in `training.ml.policy_lint` (no Django), so evaluation and the benchmarks
can score generated copy with exactly the check the marketers see.
"""

from __future__ import annotations

from collections import Counter

from inference import metrics
from inference.models import Creative
from products.models import Product

CREATIVE_FIELDS = ("headline", "body", "cta")


def creatives_lint(*, rows: list[Creative]) -> list[Creative]:
    """Fill `lint` on each unsaved row from its product's own data, and count the findings."""
    from inference.services.generation import product_item  # generation imports the store, which imports this
    from training.ml.formatting import source_text
    from training.ml.policy_lint import lint_creative

    products = _products_of(rows)
    sources: dict[int, str] = {}
    found: Counter[str] = Counter()
    for row in rows:
        if row.product_id not in sources:
            sources[row.product_id] = source_text(product_item(products[row.product_id]))
        fields = {name: getattr(row, name) for name in CREATIVE_FIELDS}
        row.lint = [finding.as_dict() for finding in lint_creative(fields, sources[row.product_id])]
        found.update(finding["code"] for finding in row.lint)
    metrics.lint_findings_observe(found)
    return rows


def _products_of(rows: list[Creative]) -> dict[int, Product]:
    """The rows' products: those already on the rows, the others read in one query."""
    products = {row.product_id: row.product for row in rows if Creative.product.is_cached(row)}
    missing = {row.product_id for row in rows} - set(products)
    if missing:
        products.update(Product.objects.in_bulk(missing))
    return products
