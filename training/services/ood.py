"""The out-of-distribution set as the evaluation frame training, the gate and the benchmark score.

The set (`products.ood`) is imported once as its own dataset version (kind `ood`, never trained on);
`ood_frame_read` returns that version's rows, creating the version from the fixture on first use, so
every evaluation scores the very rows the admin shows. `ood_frame_in_memory` builds the same rows
without the database, for the benchmark command.
"""

from __future__ import annotations

import pandas as pd

from products.generator import TONES
from products.ood import load_ood_products
from products.services import dataset_version_create_ood, dataset_version_read


def ood_frame_read() -> pd.DataFrame:
    """Rows of the out-of-distribution dataset version: one per (product, tone), no reference copy."""
    return dataset_version_read(version=dataset_version_create_ood())


def ood_frame_in_memory() -> pd.DataFrame:
    """The same rows straight from the fixture (nothing written): what `benchmark_training` scores."""
    rows = [
        {
            "sku": product.sku,
            "title": product.title,
            "category": product.category,
            "brand": product.brand,
            "description": product.description,
            "price": float(product.price),
            "rating": float(product.rating),
            "noun": product.noun,
            "novelty": product.novelty,
            "split": "test",
            "tone": tone,
            "headline": None,
            "body": None,
            "cta": None,
        }
        for product in load_ood_products()
        for tone in TONES
    ]
    return pd.DataFrame(rows)
