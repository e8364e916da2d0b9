"""The ad-policy lint on crafted copy: each rule fires where a platform would object, and stays quiet
where the product's own data supports the text."""

from __future__ import annotations

import pytest

from training.ml.findings import Finding
from training.ml.policy_lint import CODES, lint_creative

SOURCE = "Nova Electric Kettle 1.7 L $49.99 Stainless steel, boils in 3 minutes, USB-C charging dock."


def _codes(fields, source=SOURCE):
    return [(finding.code, finding.field, finding.text) for finding in lint_creative(fields, source)]


def test_clean_copy_has_no_findings():
    fields = {
        "headline": "Meet the Nova kettle",
        "body": "Stainless steel, 1.7 L, boils in 3 minutes. Only $49.99 with a USB-C dock.",
        "cta": "Shop now",
    }

    assert lint_creative(fields, SOURCE) == []


@pytest.mark.parametrize(
    "text, offending",
    [
        ("The best kettle in town", "best"),
        ("Our BEST-selling kettle", "BEST"),
        ("Rated #1 by cooks", "#1"),
        ("The number one kettle", "number one"),
        ("The No. 1 kettle", "No. 1"),
        ("Boiling guaranteed", "guaranteed"),
        ("The cheapest kettle", "cheapest"),
        ("Lowest prices today", "Lowest prices"),
    ],
)
def test_unsupported_superlatives_are_found(text, offending):
    findings = [
        finding for finding in lint_creative({"headline": text}, SOURCE) if finding.code == "superlative"
    ]

    assert [finding.text for finding in findings] == [offending]
    assert "claim the product's data does not back" in findings[0].message


def test_a_superlative_the_product_states_is_supported():
    source = "Acme Toaster. Guaranteed for 5 years. Best Buy exclusive."

    assert _codes({"body": "Guaranteed for 5 years, a Best Buy exclusive."}, source) == []


@pytest.mark.parametrize("text", ["A bestiary of teas", "Betterment", "#10 size", "Number of cups: one"])
def test_words_that_only_contain_a_superlative_are_not_one(text):
    assert "superlative" not in [code for code, _, _ in _codes({"headline": text}, text)]


def test_words_in_capitals_are_found_once_each():
    findings = lint_creative({"headline": "AMAZING kettle, AMAZING price", "cta": "BUY NOW"}, SOURCE)

    assert [(finding.field, finding.text) for finding in findings] == [
        ("headline", "AMAZING"),
        ("cta", "BUY"),
        ("cta", "NOW"),
    ]
    assert all(finding.code == "all_caps" for finding in findings)
    assert findings[0].message.startswith('"AMAZING" is written in capitals')


def test_capitals_the_product_spells_so_are_allowed():
    source = "LEGO Classic brick box with LED lights and a USB cable"

    assert _codes({"headline": "LEGO bricks with LED lights", "body": "Charge over USB."}, source) == []


def test_a_brand_spelled_differently_in_the_input_is_not_an_excuse():
    assert _codes({"headline": "NOVA kettle"}) == [("all_caps", "headline", "NOVA")]


@pytest.mark.parametrize(
    "text", ["A kettle", "I love it", "4K screen", "USB-C dock", "電気ケトル", "Ça chauffe"]
)
def test_single_capitals_and_uncased_scripts_are_not_shouting(text):
    assert "all_caps" not in [code for code, _, _ in _codes({"headline": text}, SOURCE + " 4")]


@pytest.mark.parametrize(
    "text, offending", [("Hot!!", "!!"), ("Ready??", "??"), ("Really?!", "?!"), ("Wow!!!", "!!!")]
)
def test_repeated_punctuation_is_found(text, offending):
    assert _codes({"headline": text}) == [("repeated_punctuation", "headline", offending)]


@pytest.mark.parametrize("text", ["Hot! Ready?", "Boils fast...", "Tea, coffee; soup: all of them."])
def test_single_punctuation_is_fine(text):
    assert _codes({"headline": text}) == []


def test_click_here_is_found_in_any_case():
    assert _codes({"cta": "Click  here"}) == [("click_here", "cta", "Click  here")]
    assert _codes({"body": "Learn more, click here."}) == [("click_here", "body", "click here")]


def test_click_on_its_own_is_fine():
    assert _codes({"body": "One click heats the kettle here."}) == []


def test_numbers_not_in_the_product_data_are_found():
    findings = lint_creative({"body": "Now $39.99, boils in 3 minutes, 1,200 W."}, SOURCE)

    assert [(finding.code, finding.text) for finding in findings] == [
        ("foreign_number", "1200"),
        ("foreign_number", "39.99"),
    ]
    assert findings[1].message.startswith('"39.99" is not in the product\'s data')


def test_numbers_of_the_product_are_fine_however_they_are_written():
    assert _codes({"body": "1.70 L for $49.99, ready in 3 minutes."}) == []


def test_findings_come_in_field_order_and_serialise():
    findings = lint_creative({"headline": "BEST kettle!!", "body": "Click here"}, SOURCE)

    assert [finding.code for finding in findings] == [
        "superlative",
        "all_caps",
        "repeated_punctuation",
        "click_here",
    ]
    assert findings[0].as_dict() == {
        "code": "superlative",
        "field": "headline",
        "text": "BEST",
        "message": findings[0].message,
    }
    assert {finding.code for finding in findings} <= set(CODES)
    assert isinstance(findings[0], Finding)


def test_empty_fields_have_no_findings():
    assert lint_creative({"headline": "", "body": "", "cta": ""}, "") == []
