"""A marketer in a real browser: log in, filter, search, open a product, copy, export, regenerate."""

from __future__ import annotations

import csv
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from inference.models import Creative
from registry.models import ModelVersion
from tests.browser.conftest import log_in
from tests.factories.registry import model_version_with_artifact
from tests.pages.builders import make_creative, make_model_version, make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CATALOG = [
    # sku, title, category, brand, price
    ("OUT-001", "Ridgeway Storm Tent 2P", "Outdoor", "Ridgeway", "199.00"),
    ("OUT-002", "Trailborn Daypack 22 L", "Outdoor", "Trailborn", "59.00"),
    ("OUT-003", "Northpeak Headlamp", "Outdoor", "Northpeak", "24.50"),
    ("KIT-001", "Copperleaf Kettle 1.7 L", "Home & Kitchen", "Copperleaf", "49.00"),
    ("KIT-002", "Hearthly Cast Iron Pan 28 cm", "Home & Kitchen", "Hearthly", "64.00"),
    ("ELE-001", "Sonora Bluetooth Speaker", "Electronics", "Sonora", "89.00"),
]


@pytest.fixture
def shop(tiny_artifact, marketer):
    """A production model with a real artifact (so "Regenerate" really generates), an archived earlier
    version, and stored creatives for a small catalog."""
    archived = make_model_version(1, status=ModelVersion.Status.ARCHIVED)
    production = model_version_with_artifact(
        source=tiny_artifact, version=2, status=ModelVersion.Status.PRODUCTION
    )
    products = {}
    for sku, title, category, brand, price in CATALOG:
        product = make_product(sku, title=title, category=category, brand=brand, price=Decimal(price))
        products[sku] = product
        for tone in ("bold", "value"):
            make_creative(
                product, production, tone, headline=f"{title}: {tone} pick", body=f"Why {title} works."
            )
        make_creative(product, archived, "bold", headline=f"Old line for {title}")
    return {"production": production, "archived": archived, "products": products}


def table_skus(page) -> list[str]:
    return [text.strip() for text in page.locator("table.data tbody .sku").all_inner_texts()]


def test_marketer_filters_searches_opens_a_product_and_exports(page, shop, screenshot, tmp_path):
    page.goto("/creatives/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/creatives/"))
    expect(page).to_have_title("Log in · CreativeOps")
    screenshot(page, "login")

    log_in(page, "browser-marketer")
    expect(page).to_have_url(re.compile(r"/creatives/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Creatives")
    expect(page.locator("#result-count")).to_have_text("Showing 1–12 of 12 creatives.")
    expect(page.get_by_text("Signed in as browser-marketer")).to_be_visible()
    screenshot(page, "creatives")

    # Filter: Outdoor, value tone, price up to 100.
    page.get_by_label("Category").select_option("Outdoor")
    page.get_by_label("Tone").select_option("value")
    page.get_by_label("Price to").fill("100")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#result-count")).to_have_text("Showing 1–2 of 2 creatives.")
    assert table_skus(page) == ["OUT-003", "OUT-002"]  # by title: Northpeak, then Trailborn
    screenshot(page, "creatives-filtered")

    # Export exactly what is on screen.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    download = download_info.value
    assert download.suggested_filename.startswith("creatives-creative-generator-v2-")
    exported = tmp_path / "export.csv"
    download.save_as(exported)
    with exported.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["sku"], row["tone"], row["price"], row["model_version"]) for row in rows] == [
        ("OUT-003", "value", "24.50", "creative-generator v2"),
        ("OUT-002", "value", "59.00", "creative-generator v2"),
    ]

    # Search across title and headline, sorted by price, high to low.
    page.get_by_role("link", name="Reset").click()
    page.get_by_label("Search", exact=True).fill("kettle")
    page.get_by_label("Sort by").select_option("-price")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#result-count")).to_have_text("Showing 1–2 of 2 creatives.")
    assert table_skus(page) == ["KIT-001", "KIT-001"]
    screenshot(page, "creatives-search")

    # Open the product: current creatives by tone, and what v1 wrote before.
    page.get_by_role("link", name="Copperleaf Kettle 1.7 L").first.click()
    expect(page).to_have_title("Copperleaf Kettle 1.7 L · Creatives · CreativeOps")
    current = page.locator("section[aria-labelledby=current-heading] .card")
    expect(current).to_have_count(2)
    expect(page.locator("details.history summary")).to_contain_text("creative-generator v1")
    expect(page.locator("details.history .copy-headline")).to_have_text(
        "Old line for Copperleaf Kettle 1.7 L"
    )
    screenshot(page, "product")


def test_marketer_copies_and_regenerates(page, context, shop, screenshot, live_server):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, "browser-marketer", path="/creatives/product/OUT-001/")
    expect(page).to_have_title("Ridgeway Storm Tent 2P · Creatives · CreativeOps")

    # Copy a creative to the clipboard.
    first_card = page.locator("section[aria-labelledby=current-heading] .card").first
    first_card.get_by_role("button", name="Copy").click()
    expect(first_card.locator(".copy-status")).to_have_text("Copied to the clipboard.")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard == "Ridgeway Storm Tent 2P: bold pick\nWhy Ridgeway Storm Tent 2P works.\nShop now"

    # The waiting state: shown on submit (checked with the submission held back, then for real).
    hold_back_submission = (
        "document.querySelector('.regenerate-form')"
        ".addEventListener('submit', event => event.preventDefault(), {once: true})"
    )
    page.evaluate(hold_back_submission)
    page.get_by_label("Tone").select_option("luxury")
    page.get_by_label("Variants").fill("2")
    page.get_by_role("button", name="Regenerate").click()
    waiting = page.get_by_role("button", name="Generating…")
    expect(waiting).to_be_disabled()
    expect(page.locator("#regenerate-progress progress")).to_be_visible()
    screenshot(page, "product-generating")

    page.reload()
    page.get_by_label("Tone").select_option("luxury")
    page.get_by_label("Variants").fill("2")
    page.get_by_role("button", name="Regenerate").click()
    expect(page.get_by_role("heading", name="Just generated")).to_be_visible(timeout=60_000)
    expect(page.locator("#regenerated .card")).to_have_count(2)
    expect(page.locator(".messages")).to_contain_text(
        "2 new luxury creatives written by creative-generator v2."
    )
    stored = Creative.objects.filter(product__sku="OUT-001", source=Creative.Source.REGENERATE)
    assert sorted(stored.values_list("tone", "model_version__version")) == [("luxury", 2), ("luxury", 2)]
    # The newest luxury creative is now the current one for that tone.
    expect(page.locator("section[aria-labelledby=current-heading] .card")).to_have_count(3)
    screenshot(page, "product-regenerated")


def test_pages_fit_a_phone_screen(page, shop, screenshot):
    page.set_viewport_size({"width": 375, "height": 740})
    log_in(page, "browser-marketer")

    for path, name in (("/creatives/", "creatives-phone"), ("/creatives/product/KIT-002/", "product-phone")):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, f"{path} scrolls sideways"
        screenshot(page, name)

    # Keyboard users: the skip link is the first stop and shows when focused.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()


def test_regenerate_without_a_production_model_says_so(page, marketer, screenshot):
    archived = make_model_version(1, status=ModelVersion.Status.ARCHIVED)
    product = make_product("SOLO-1", title="Lone Lantern")
    make_creative(product, archived, "bold", headline="Shine on")
    log_in(page, "browser-marketer", path="/creatives/product/SOLO-1/")

    page.get_by_role("button", name="Regenerate").click()

    expect(page.get_by_role("alert")).to_contain_text("No model is in production yet")
    assert not Creative.objects.filter(source=Creative.Source.REGENERATE).exists()
    screenshot(page, "product-no-production")
