"""Marketers see how many ad-policy findings a creative has, and what they are, on both pages."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from registry.models import ModelVersion
from tests.pages.builders import make_creative, make_model_version, make_product

pytestmark = pytest.mark.django_db

FLAGGED_HEADLINE = "The BEST kettle!!"


@pytest.fixture
def creatives():
    version = make_model_version(1, status=ModelVersion.Status.PRODUCTION)
    kettle = make_product("KIT-1", title="Copper Kettle", price="49.00")
    make_creative(kettle, version, "bold", headline=FLAGGED_HEADLINE, body="Copper, $49.00.")
    make_creative(kettle, version, "value", headline="Copper Kettle for tea", body="Copper, $49.00.")
    return kettle


def _badges(response) -> list[tuple[str, str]]:
    """(title, visible text) of each lint badge on the page."""
    found = re.findall(
        r'<span class="badge badge-warning badge-lint" title="([^"]*)">(.*?)<span class="visually-hidden">',
        response.content.decode(),
    )
    return [(html.unescape(title), text) for title, text in found]


def _expect_one_badge(response) -> None:
    badges = _badges(response)
    assert len(badges) == 1
    title, text = badges[0]
    assert text == "3 policy findings"
    messages = title.split("\n")
    assert len(messages) == 3
    assert messages[0].startswith('"BEST" is a claim the product\'s data does not back')
    assert messages[1].startswith('"BEST" is written in capitals')
    assert messages[2] == '"!!" repeats punctuation: ad platforms allow one "!" or "?" at a time.'


def test_the_creatives_list_shows_the_badge_on_the_flagged_creative_only(marketer_client, creatives):
    response = marketer_client.get(reverse("creatives:list"))

    assert response.status_code == 200
    _expect_one_badge(response)


def test_the_product_page_shows_the_badge_on_the_flagged_creative_only(marketer_client, creatives):
    response = marketer_client.get(reverse("creatives:product", kwargs={"sku": "KIT-1"}))

    assert response.status_code == 200
    _expect_one_badge(response)
