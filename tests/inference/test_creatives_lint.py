"""Every stored creative carries its ad-policy findings, checked against its own product's data, and
the findings are counted by rule for Prometheus."""

from __future__ import annotations

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from inference.models import Creative
from inference.services import creatives_store
from registry.models import ModelVersion
from tests.pages.builders import make_model_version, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def version():
    return make_model_version(1, status=ModelVersion.Status.PRODUCTION)


@pytest.fixture
def kettle():
    return make_product(
        "KETTLE-1",
        title="Nova LED Kettle 1.7 L",
        description="Boils in 3 minutes.",
        brand="Nova",
        price="49.99",
    )


def _findings(code: str) -> float:
    return REGISTRY.get_sample_value("creativeops_creative_lint_findings_total", {"code": code}) or 0.0


def test_a_clean_creative_has_no_findings(kettle, version):
    row = Creative(
        product=kettle,
        model_version=version,
        tone="bold",
        headline="Meet the Nova LED kettle",
        body="1.7 L, boils in 3 minutes, $49.99.",
        cta="Shop now",
    )

    creatives_store(rows=[row], source=Creative.Source.API)

    assert Creative.objects.get().lint == []


def test_findings_are_stored_with_the_creative(kettle, version):
    before = {code: _findings(code) for code in ("superlative", "all_caps", "foreign_number")}
    row = Creative(
        product=kettle,
        model_version=version,
        tone="bold",
        headline="The BEST LED kettle",
        body="Now $39.99!!",
        cta="Click here",
    )

    creatives_store(rows=[row], source=Creative.Source.REGENERATE)

    lint = Creative.objects.get().lint
    assert [(finding["code"], finding["field"], finding["text"]) for finding in lint] == [
        ("superlative", "headline", "BEST"),
        ("all_caps", "headline", "BEST"),
        ("repeated_punctuation", "body", "!!"),
        ("foreign_number", "body", "39.99"),
        ("click_here", "cta", "Click here"),
    ]
    assert lint[3]["message"].startswith('"39.99" is not in the product\'s data')
    assert _findings("superlative") == before["superlative"] + 1
    assert _findings("all_caps") == before["all_caps"] + 1
    assert _findings("foreign_number") == before["foreign_number"] + 1


def test_rows_naming_only_their_product_id_are_checked_against_that_product(kettle, version):
    other = make_product("TENT-1", title="Trail Tent for 2", description="Sleeps 2.", price="120.00")
    rows = [
        Creative(product_id=product.pk, model_version=version, tone="bold", headline=text, body="", cta="")
        for product, text in ((kettle, "Boils in 3 minutes"), (other, "Boils in 3 minutes"))
    ]

    creatives_store(rows=rows, source=Creative.Source.REFRESH)

    lint = dict(Creative.objects.values_list("product__sku", "lint"))
    assert lint["KETTLE-1"] == []
    assert [finding["text"] for finding in lint["TENT-1"]] == ["3"]


def test_every_rule_has_a_series_before_any_finding():
    from training.ml.policy_lint import CODES

    for code in CODES:
        assert (
            REGISTRY.get_sample_value("creativeops_creative_lint_findings_total", {"code": code}) is not None
        )


def test_the_admin_shows_the_findings_and_filters_by_them(admin_client, kettle, version):
    flagged, clean = (
        Creative(product=kettle, model_version=version, tone=tone, headline=headline, body="", cta="")
        for tone, headline in (("bold", "AMAZING kettle"), ("value", "Nova kettle"))
    )
    creatives_store(rows=[flagged, clean], source=Creative.Source.API)
    changelist = reverse("admin:inference_creative_changelist")

    listed = admin_client.get(changelist, {"lint": "findings"})
    detail = admin_client.get(reverse("admin:inference_creative_change", args=[flagged.pk]))

    assert [row.pk for row in listed.context["cl"].result_list] == [flagged.pk]
    assert [row.pk for row in admin_client.get(changelist, {"lint": "clean"}).context["cl"].result_list] == [
        clean.pk
    ]
    assert b'<span title="&quot;AMAZING&quot; is written in capitals' in listed.content
    assert b"<code>all_caps</code> in headline: &quot;AMAZING&quot; is written in capitals" in detail.content
