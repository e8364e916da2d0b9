"""Short builders for the page tests over the shared factories: products without reference creatives,
registered model versions in a given status, their creatives, and the visible text of a page.

The many creatives of the pagination tests go in with one store call, so 160 rows set up in
milliseconds.
"""

from __future__ import annotations

import html
import re

from django.conf import settings

from inference.models import AssetSet, Creative
from inference.services import creatives_store
from products.models import Product
from registry.models import ModelVersion
from tests.factories.inference import CreativeFactory
from tests.factories.products import ProductFactory
from tests.factories.registry import ModelVersionFactory

TONES = ("bold", "luxury", "value", "playful")


def model_name() -> str:
    return settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]


def make_product(sku: str, **fields) -> Product:
    fields.setdefault("title", f"Product {sku}")
    fields.setdefault("description", f"A well made product {sku}.")
    fields.setdefault("category", "Garden")
    fields.setdefault("brand", "Sprout Lane")
    fields.setdefault("price", "10.00")
    return ProductFactory(sku=sku, creatives=[], **fields)


def make_model_version(
    version: int,
    *,
    status: str = ModelVersion.Status.ARCHIVED,
    rouge_l: float | None = None,
    evaluation: dict | None = None,
) -> ModelVersion:
    """A registered version of the default model; `rouge_l` is its own (training) primary metric."""
    fields = {"version": version, "status": status}
    if rouge_l is not None:
        fields["metrics"] = {"rouge_l": rouge_l}
    if evaluation is not None:
        fields["evaluation"] = evaluation
    return ModelVersionFactory(**fields)


def make_creative(product: Product, model_version: ModelVersion, tone: str = "bold", **fields) -> Creative:
    fields.setdefault("headline", f"{product.title} in {tone}")
    fields.setdefault("body", f"Body of {product.sku} by v{model_version.version}.")
    fields.setdefault("cta", "Shop now")
    fields.setdefault("source", Creative.Source.REFRESH)
    return CreativeFactory(product=product, model_version=model_version, tone=tone, **fields)


def make_catalog_creatives(
    model_version: ModelVersion, products: list[Product], tones=TONES
) -> list[Creative]:
    """One refresh creative per product and tone, in one INSERT (through the store service)."""
    rows = [
        Creative(
            product=product,
            model_version=model_version,
            tone=tone,
            headline=f"{product.title} in {tone}",
            body=f"Body of {product.sku} by v{model_version.version}.",
            cta="Shop now",
            source=Creative.Source.REFRESH,
        )
        for product in products
        for tone in tones
    ]
    return creatives_store(rows=rows, source=Creative.Source.REFRESH)


def make_asset_set(
    product: Product,
    model_version: ModelVersion,
    channel: str,
    assets: dict[str, list[str]],
    *,
    lint: list[dict] = (),
    problems: list[str] = (),
) -> AssetSet:
    """A stored asset set, as the refresh writes one (the tests give its values by hand)."""
    return AssetSet.objects.create(
        product=product,
        model_version=model_version,
        channel=channel,
        assets=assets,
        lint=list(lint),
        problems=list(problems),
    )


def google_assets(name: str, *, headlines: int = 8, descriptions: int = 3) -> dict[str, list[str]]:
    """A complete google_search set of short, distinct values about `name` (at most 20 characters)."""
    return {
        "headline": [f"{name[:16]} no. {number}" for number in range(1, headlines + 1)],
        "description": [f"About {name}, point {number}." for number in range(1, descriptions + 1)],
        "path": ["Garden", name[:15]],
    }


def meta_assets(name: str, *, texts: int = 2, button: str = "Shop now") -> dict[str, list[str]]:
    return {
        "primary_text": [f"{name}: primary text {number}." for number in range(1, texts + 1)],
        "headline": [f"{name} headline {number}" for number in range(1, texts + 1)],
        "link_description": [f"Link {number}" for number in range(1, texts + 1)],
        "cta": [button],
    }


def page_text(response) -> str:
    """The page's visible text with tags dropped and whitespace collapsed, for asserting sentences."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())
