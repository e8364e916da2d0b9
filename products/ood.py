"""The out-of-distribution evaluation set: real-world products the synthetic generator never writes.

The generated catalog and the golden set come from the same generator, so a model that has merely
memorised the generator's 66 brands and its product nouns scores perfectly on both. This set is the
check from outside: hand-written products with real brands, most of them in categories the
generator has no table for (musical instruments, books, wine, baby goods, bicycle parts…), and a
few in its own categories but with brands it never heard of. It is never trained on: see
`products.services.ood` for how it becomes a dataset version that no training snapshot can pick up.

`fixtures/ood_products.json` is a catalog import file (`{"products": [...]}`): every row holds the
fields an import needs (sku, title, category, brand, description, price, rating) and is checked by
the import's own validation when loaded, so the fixture can never hold a row an import would
reject. Two more keys serve the evaluation and are ignored by an import:

- `noun`: the product as its own title or description names it ("electric guitar", "paperback"),
  so an "own fact" check can tell whether copy names the product;
- `novelty`: `unseen_category` (a category the generator never writes) or `unseen_brand` (one of
  the generator's categories, with a brand outside its vocabulary).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from creativeops.core.errors import ApplicationError

OOD_FIXTURE_PATH = Path(__file__).resolve().parent / "fixtures" / "ood_products.json"
OOD_SKU_PREFIX = "OOD-"
UNSEEN_CATEGORY = "unseen_category"
UNSEEN_BRAND = "unseen_brand"
NOVELTIES: tuple[str, ...] = (UNSEEN_CATEGORY, UNSEEN_BRAND)


@dataclass(frozen=True, slots=True)
class OodProduct:
    """One product of the set: the catalog fields as an import stores them, plus `noun` and `novelty`."""

    sku: str
    title: str
    category: str
    brand: str
    description: str
    price: Decimal
    rating: Decimal
    noun: str
    novelty: str

    def source_text(self) -> str:
        """Everything copy may quote, in the shape of `products.generator.product_source_text`."""
        return f"{self.title}\n{self.description}\n{self.brand}\n${self.price}"


def ood_fixture_sha256(*, path: Path = OOD_FIXTURE_PATH) -> str:
    """SHA-256 of the fixture file: the key that finds the dataset version already imported from it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_ood_products(*, path: Path = OOD_FIXTURE_PATH) -> tuple[OodProduct, ...]:
    """The set's products in file order, validated by the catalog import's own checks plus the
    evaluation keys; an invalid fixture raises `ApplicationError` naming every bad row."""
    return _load(path, ood_fixture_sha256(path=path))


@functools.cache
def _load(path: Path, sha256: str) -> tuple[OodProduct, ...]:
    """Cached by (path, content hash): an edited fixture is read again, an unchanged one is not."""
    # Imported here: products.services imports products.services.ood, which imports this module.
    from products.services.imports import products_validate

    payload = path.read_bytes()
    imported, issues = products_validate(file=io.BytesIO(payload), filename=path.name)
    items = json.loads(payload)["products"]
    extras = {str(item.get("sku", "")).strip(): item for item in items if isinstance(item, dict)}
    problems = [str(issue) for issue in issues]
    if not issues and len(imported) != len(items):
        problems.append(f"{len(items)} rows hold {len(imported)} distinct valid skus; one row per sku.")
    products = []
    for product in imported:
        extra = extras[product.sku]
        row = OodProduct(
            sku=product.sku,
            title=product.title,
            category=product.category,
            brand=product.brand,
            description=product.description,
            price=product.price,
            rating=product.rating,
            noun=str(extra.get("noun") or "").strip(),
            novelty=str(extra.get("novelty") or "").strip(),
        )
        problems += [f"line {product.line}, {message}" for message in _evaluation_key_problems(row)]
        products.append(row)
    if problems:
        raise ApplicationError(
            f"{path.name} is not a valid out-of-distribution set: " + " ".join(problems[:20]), field="file"
        )
    return tuple(products)


def _evaluation_key_problems(product: OodProduct) -> list[str]:
    problems = []
    if not product.sku.startswith(OOD_SKU_PREFIX):
        problems.append(f"sku: '{product.sku}' must start with '{OOD_SKU_PREFIX}'.")
    if product.novelty not in NOVELTIES:
        problems.append(f"novelty: '{product.novelty}' is not one of {', '.join(NOVELTIES)}.")
    named = re.search(
        rf"(?<!\w){re.escape(product.noun)}(?:e?s)?(?!\w)", f"{product.title}\n{product.description}", re.I
    )
    if not product.noun or named is None:
        problems.append(f"noun: '{product.noun}' must be named in the product's title or description.")
    return problems
