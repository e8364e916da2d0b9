"""A realistic synthetic catalog frame for the training tests, shaped like a dataset-version snapshot.

Eight categories with their own brands, product nouns, materials and numeric specs; four tones with
several phrasings each that copy the brand, noun, material and numbers from the product, so a model
that learns the task must copy facts from its input rather than memorise them.
"""

from __future__ import annotations

import hashlib
import random

import pandas as pd
import pytest

CATALOG = {
    "kitchen": {
        "brands": ["Copperleaf", "Hearthly", "Saltmarsh"],
        "nouns": ["kettle", "frying pan", "knife set", "coffee grinder", "mixing bowl"],
        "materials": ["stainless steel", "cast iron", "bamboo", "ceramic"],
        "spec": ("{n} cm", [20, 24, 26, 28, 30, 32]),
        "feature": ["heats evenly", "cleans up in seconds", "fits every cupboard"],
    },
    "outdoor": {
        "brands": ["Ridgeway", "Trailborn", "Northpeak"],
        "nouns": ["backpack", "tent", "sleeping bag", "camping chair", "headlamp"],
        "materials": ["ripstop nylon", "recycled polyester", "waxed canvas", "aluminium"],
        "spec": ("{n} L", [18, 22, 30, 35, 40, 55, 65]),
        "feature": ["sheds rain", "packs down small", "survives rough trails"],
    },
    "electronics": {
        "brands": ["Voltaic", "Lumenix", "Sonora"],
        "nouns": ["speaker", "headphones", "power bank", "smartwatch", "desk lamp"],
        "materials": ["aluminium", "matte plastic", "tempered glass", "silicone"],
        "spec": ("{n}-hour battery", [8, 10, 12, 16, 20, 24, 30, 40]),
        "feature": ["pairs instantly", "charges over USB-C", "sounds crisp at any volume"],
    },
    "home": {
        "brands": ["Linden & Co", "Quietnest", "Holloway"],
        "nouns": ["throw blanket", "table lamp", "cushion", "wall clock", "vase"],
        "materials": ["merino wool", "linen", "oak", "glazed stoneware"],
        "spec": ("{n} cm", [30, 35, 40, 45, 50, 60]),
        "feature": ["warms up any room", "suits every style", "is made to last"],
    },
    "beauty": {
        "brands": ["Petalune", "Dewform", "Mirelle"],
        "nouns": ["face serum", "hand cream", "lip balm", "body oil", "cleanser"],
        "materials": ["rosehip oil", "shea butter", "aloe vera", "vitamin C"],
        "spec": ("{n} ml", [15, 30, 50, 75, 100, 150]),
        "feature": ["absorbs fast", "soothes dry skin", "is gentle every day"],
    },
    "fitness": {
        "brands": ["Kinetiq", "Stridewell", "Ironvale"],
        "nouns": ["yoga mat", "kettlebell", "resistance band", "water bottle", "jump rope"],
        "materials": ["natural rubber", "cork", "powder-coated steel", "TPE foam"],
        "spec": ("{n} kg", [2, 4, 6, 8, 12, 16, 20]),
        "feature": ["grips in every pose", "stays put on the floor", "takes daily abuse"],
    },
    "pets": {
        "brands": ["Pawsley", "Barkhaven", "Whiskerworks"],
        "nouns": ["dog bed", "cat tree", "leash", "food bowl", "chew toy"],
        "materials": ["memory foam", "hemp rope", "stainless steel", "organic cotton"],
        "spec": ("{n} cm", [40, 50, 60, 70, 80, 90]),
        "feature": ["survives enthusiastic chewing", "washes easily", "keeps pets calm"],
    },
    "office": {
        "brands": ["Inkwell", "Deskcraft", "Papermoor"],
        "nouns": ["notebook", "desk organizer", "fountain pen", "monitor stand", "planner"],
        "materials": ["recycled paper", "walnut", "brushed brass", "vegan leather"],
        "spec": ("{n} pages", [80, 120, 160, 192, 240]),
        "feature": ["keeps your desk tidy", "writes smoothly", "fits in any bag"],
    },
}

TONE_TEMPLATES = {
    "bold": [
        ("Meet the {brand} {noun}", "{Material} build, {spec} and it {feature}.", "Get yours"),
        (
            "{brand} {noun}. No compromises.",
            "Built from {material} with {spec}. It {feature}.",
            "Grab it now",
        ),
        ("Power up with {brand}", "This {material} {noun} brings {spec} and {feature}.", "Shop {brand}"),
    ],
    "luxury": [
        (
            "Crafted {material} elegance from {brand}",
            "An exquisite {noun} with {spec}. It {feature}.",
            "Discover the collection",
        ),
        (
            "The {brand} {noun}, refined",
            "Finished in {material}, with {spec}. It {feature}.",
            "Indulge today",
        ),
        (
            "Timeless {noun} by {brand}",
            "Hand-finished {material} and {spec}, made to impress.",
            "Explore {brand}",
        ),
    ],
    "value": [
        ("{brand} {noun} for just ${price}", "Get {spec} in durable {material}. It {feature}.", "Save now"),
        (
            "Smart buy: the {brand} {noun}",
            "Only ${price} for a {material} {noun} with {spec}.",
            "Add to cart",
        ),
        ("Big value, {price} dollars", "A {material} {noun} from {brand} with {spec}.", "Buy for ${price}"),
    ],
    "playful": [
        (
            "Say hello to your new {noun}!",
            "{brand} made it from {material}, gave it {spec}, and it {feature}.",
            "Treat yourself",
        ),
        ("Oh hey, {brand} {noun}", "Fancy some {material}? It has {spec} and {feature}.", "Why not?"),
        (
            "Your {noun} glow-up is here",
            "{brand} packed {spec} into {material}. It {feature}!",
            "Make it yours",
        ),
    ],
}

TONES = tuple(TONE_TEMPLATES)


def _stable_split(sku: str) -> str:
    bucket = int(hashlib.sha256(sku.encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else ("validation" if bucket == 8 else "test")


def _product(index: int, rng: random.Random) -> dict:
    category = rng.choice(sorted(CATALOG))
    spec_of = CATALOG[category]
    brand, noun, material = (rng.choice(spec_of[key]) for key in ("brands", "nouns", "materials"))
    spec_template, numbers = spec_of["spec"]
    spec = spec_template.format(n=rng.choice(numbers))
    warranty = rng.choice([1, 2, 3, 5])
    price = round(rng.uniform(9, 240), 0) - 0.01
    feature = rng.choice(spec_of["feature"])
    title = f"{brand} {material.title()} {noun.title()} {spec}"
    description = (
        f"The {brand} {noun} is made from {material} and {feature}. "
        f"It comes with {spec} and a {warranty}-year warranty. "
        f"Designed for everyday {category} use."
    )
    return {
        "sku": f"SKU-{index:05d}",
        "title": title,
        "category": category,
        "brand": brand,
        "description": description,
        "price": price,
        "rating": round(rng.uniform(3.0, 5.0), 1),
        "noun": noun,
        "material": material,
        "spec": spec,
        "feature": feature,
    }


def make_catalog_frame(products: int = 100, seed: int = 0, without_creatives: int = 2) -> pd.DataFrame:
    """One row per (product, tone); the last `without_creatives` products get a single null-tone row."""
    rng = random.Random(seed)
    rows = []
    for index in range(products):
        product = _product(index, rng)
        base = {
            key: product[key]
            for key in ("sku", "title", "category", "brand", "description", "price", "rating")
        }
        base["split"] = _stable_split(product["sku"])
        if index >= products - without_creatives:
            rows.append({**base, "tone": None, "headline": None, "body": None, "cta": None})
            continue
        values = {
            "brand": product["brand"],
            "noun": product["noun"],
            "material": product["material"],
            "Material": product["material"].capitalize(),
            "spec": product["spec"],
            "feature": product["feature"],
            "price": f"{product['price']:.2f}",
        }
        for tone in TONES:
            headline, body, cta = rng.choice(TONE_TEMPLATES[tone])
            rows.append(
                {
                    **base,
                    "tone": tone,
                    "headline": headline.format(**values),
                    "body": body.format(**values),
                    "cta": cta.format(**values),
                }
            )
    return pd.DataFrame(rows)


def known_vocabulary() -> tuple[list[str], list[str]]:
    """(brands, nouns) of the synthetic catalog, as the Django side would pass the catalog vocabulary."""
    brands = sorted({brand for spec in CATALOG.values() for brand in spec["brands"]})
    nouns = sorted({noun for spec in CATALOG.values() for noun in spec["nouns"]})
    return brands, nouns


# The project-wide conftest adds autouse fixtures that need Django settings and its cache; the tests
# of training/ml exercise Django-free code, so their modules import these no-op replacements.
@pytest.fixture
def _isolated_storage():
    yield


@pytest.fixture
def _clean_cache():
    yield
