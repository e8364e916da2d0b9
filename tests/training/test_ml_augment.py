"""Noun swapping (training/ml/augment.py): what it guarantees for every training row it changes."""

import json
import re

import pandas as pd
import pytest

from products.generator import VOCABULARY, generate_catalog
from products.ood import OOD_FIXTURE_PATH
from training.ml.augment import SWAPPED_FIELDS, noun_pattern, swap_product_nouns
from training.ml.config import TrainingConfig
from training.ml.preparation import prepare_training


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(400, seed=3)


@pytest.fixture(scope="module")
def rows(catalog):
    return [
        {
            "sku": product.sku,
            "title": product.title,
            "description": product.description,
            "brand": product.brand,
            "category": product.category,
            "price": float(product.price),
            "tone": creative.tone,
            "headline": creative.headline,
            "body": creative.body,
            "cta": creative.cta,
            "split": "train",
        }
        for product in catalog
        for creative in product.creatives
    ]


def _mentions(text: str, noun: str) -> bool:
    words = r"\s+".join(map(re.escape, noun.split()))
    return re.search(rf"(?<!\w){words}(?:es|s)?(?!\w)", text, re.IGNORECASE) is not None


def _nonce_in_title(original: dict, swapped: dict) -> str:
    """The words of the swapped title that the original did not have: the nonce noun."""
    before, after = original["title"].split(), swapped["title"].split()
    return " ".join(word for word in after if word not in before).strip(",()")


def test_a_swapped_product_loses_its_noun_everywhere_and_gets_one_nonce_in_every_tone(catalog, rows):
    swapped = swap_product_nouns(rows, VOCABULARY.all_nouns, 0.5, seed=0)
    noun_of = {product.sku: product.noun for product in catalog}
    nonce_of: dict[str, set[str]] = {}
    changed = 0
    for original, row in zip(rows, swapped, strict=True):
        if row is original:
            continue
        changed += 1
        noun = noun_of[row["sku"]]
        nonce = _nonce_in_title(original, row).casefold()
        nonce_of.setdefault(row["sku"], set()).add(nonce)
        assert nonce and noun_pattern(VOCABULARY.all_nouns).search(nonce) is None
        for field in SWAPPED_FIELDS:
            assert not _mentions(row[field], noun), (field, row[field])
            if _mentions(original[field], noun):
                assert _mentions(row[field], nonce), (field, row[field])
        # everything else about the row is as it was
        assert {k: v for k, v in row.items() if k not in SWAPPED_FIELDS} == {
            k: v for k, v in original.items() if k not in SWAPPED_FIELDS
        }
    assert all(len(nonces) == 1 for nonces in nonce_of.values())  # one nonce per product, every tone
    products = len(nonce_of)
    assert 0.35 * len(catalog) < products < 0.65 * len(catalog)
    assert changed == 4 * products
    assert len({next(iter(nonces)) for nonces in nonce_of.values()}) > 0.9 * products  # rarely repeated


def test_the_swap_is_deterministic_and_a_share_of_zero_changes_nothing(rows):
    first = swap_product_nouns(rows, VOCABULARY.all_nouns, 0.5, seed=1)
    assert first == swap_product_nouns(rows, VOCABULARY.all_nouns, 0.5, seed=1)
    assert first != swap_product_nouns(rows, VOCABULARY.all_nouns, 0.5, seed=2)
    assert swap_product_nouns(rows, VOCABULARY.all_nouns, 0.0, seed=1) == rows
    assert swap_product_nouns(rows, (), 0.5, seed=1) == rows


def test_no_nonce_is_a_noun_of_the_out_of_distribution_set(rows):
    ood_nouns = {item["noun"].casefold() for item in json.loads(OOD_FIXTURE_PATH.read_text())["products"]}
    swapped = swap_product_nouns(rows, VOCABULARY.all_nouns, 1.0, seed=0)
    nonces = {_nonce_in_title(a, b).casefold() for a, b in zip(rows, swapped, strict=True)}
    assert nonces and not nonces & ood_nouns


def test_a_title_keeps_its_case_style():
    row = {
        "sku": "X",
        "title": "Nova Chef's Knife",
        "description": "The NOVA chef's knife.",
        "headline": "CHEF'S KNIFE",
        "body": "",
        "cta": "Shop now",
    }
    (swapped,) = swap_product_nouns([row], ["chef's knife"], 1.0, seed=0)
    nonce = swapped["title"].removeprefix("Nova ")
    assert nonce == nonce.title() and nonce.casefold() != "chef's knife"
    assert swapped["description"] == f"The NOVA {nonce.casefold()}."
    assert swapped["headline"] == nonce.upper()


def test_training_swaps_train_rows_only(rows):
    frame = pd.DataFrame(rows)
    frame.loc[frame.index % 8 >= 6, "split"] = "validation"
    # long enough limits that no text is cut (the two tokenizers cut in different places)
    config = TrainingConfig.from_preset(
        "tiny", noun_swap_share=1.0, epochs=1, max_source_tokens=512, max_target_tokens=256
    )
    prepared = prepare_training(frame, config, VOCABULARY.all_nouns)
    plain = prepare_training(frame, config.with_overrides(noun_swap_share=0.0), VOCABULARY.all_nouns)

    # (the tokenizer is trained on the train rows, so compare texts, not ids)
    def texts(prepared_training, encoded):
        return [prepared_training.tokenizer.decode(sequence) for sequence in encoded.sequences]

    assert texts(prepared, prepared.validation) == texts(plain, plain.validation)
    assert texts(prepared, prepared.train) != texts(plain, plain.train)
    with pytest.raises(ValueError, match="noun_swap_share"):
        TrainingConfig.from_preset("tiny", noun_swap_share=1.5).validate()
