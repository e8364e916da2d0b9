"""The noun slot's value: `product_noun` finds what a product is in its title, by one rule for the
training rows and for any product at serving."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from products.generator import generate_catalog
from training.ml.formatting import Slots, delexicalise, product_noun
from training.ml.tokenizer import BRAND_SLOT, NOUN_SLOT


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_on_a_generated_catalog_the_noun_is_the_generators_own(seed):
    """Every title template (material before the noun, spec after it, "by Brand"...): the slot then
    covers exactly the noun the reference copy writes, so training never sees a catalog noun."""
    for product in generate_catalog(60, seed):
        noun = product_noun(product.title, product.brand, product.description)
        assert noun.casefold() == product.noun.casefold()


@pytest.mark.parametrize(
    ("title", "brand", "description", "noun"),
    [
        (
            "Fender Player Stratocaster Electric Guitar, Maple Fingerboard, 3-Color Sunburst",
            "Fender",
            "An alder-body Stratocaster with three single-coil pickups.",
            "Electric Guitar",
        ),
        ("Yamaha FG800 Solid Spruce Top Acoustic Guitar", "Yamaha", "A first guitar.", "Acoustic Guitar"),
        ("SteelSeries Arctis Nova 7 Wireless Gaming Headset", "SteelSeries", "A headset.", "Gaming Headset"),
        ("Dior Sauvage Eau de Toilette, 3.4 oz", "Dior", "Fresh and spicy.", "Eau de Toilette"),
        ("Advil Liqui-Gels Ibuprofen 200 mg, 160 Count", "Advil", "Pain relief.", "Liqui-Gels Ibuprofen"),
        ("2-Person Tent by Acme, Polyester", "Acme", "Made from polyester, the Acme tent.", "Tent"),
        ("Acme 3000", "Acme", "", ""),
        ("", "Acme", "Anything", ""),
    ],
)
def test_the_noun_of_real_titles(title, brand, description, noun):
    assert product_noun(title, brand, description) == noun


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=80), brand=st.text(max_size=20), description=st.text(max_size=80))
def test_the_noun_is_always_words_of_the_title_and_never_the_brand(title, brand, description):
    noun = product_noun(title, brand, description)
    if noun:
        assert noun.casefold() in " ".join(title.split()).casefold()
        assert noun == " ".join(noun.split())
        assert noun.casefold() != " ".join(brand.split()).casefold()


def test_slots_stand_for_the_brand_and_noun_wherever_they_occur():
    slots = Slots(brand="Fender", noun="Electric Guitar")
    text = "The FENDER electric  guitar: a Fender you keep. Electric Guitars too."
    assert slots.delexicalise(text) == (
        f"The {BRAND_SLOT} {NOUN_SLOT}: a {BRAND_SLOT} you keep. Electric Guitars too."
    )
    assert delexicalise(text, None) == text
