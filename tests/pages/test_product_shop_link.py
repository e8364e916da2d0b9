"""The product page links to the product's page on the shop, in a new tab that gets no access back."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from products.models import Product
from tests.pages.builders import make_product

pytestmark = pytest.mark.django_db

SHOP_URL = "https://shop.example.com/p/kit-9?colour=copper&size=1.7l"


def product_page(client, sku: str) -> str:
    response = client.get(reverse("creatives:product", kwargs={"sku": sku}))
    assert response.status_code == 200
    return response.content.decode()


def shop_links(html: str) -> list[str]:
    return re.findall(r"<a [^>]*>View on shop</a>", html)


def test_a_product_with_a_url_links_to_it_in_a_new_tab_without_an_opener(marketer_client):
    make_product("KIT-9", url=SHOP_URL)

    links = shop_links(product_page(marketer_client, "KIT-9"))

    assert links == [
        '<a href="https://shop.example.com/p/kit-9?colour=copper&amp;size=1.7l" target="_blank" '
        'rel="noopener noreferrer">View on shop</a>'
    ]


def test_a_product_without_a_url_shows_no_shop_link(marketer_client):
    make_product("KIT-10")

    assert shop_links(product_page(marketer_client, "KIT-10")) == []


@pytest.mark.parametrize("url", ["javascript:alert(1)", " https://shop.example.com/p/x", "data:text/html,x"])
def test_a_url_that_is_not_http_never_becomes_a_link(marketer_client, url):
    """Every write path refuses these; a row written around them (raw SQL) is still not linked."""
    product = make_product("KIT-11")
    Product.objects.filter(pk=product.pk).update(url=url)

    html = product_page(marketer_client, "KIT-11")

    assert shop_links(html) == []
    assert "alert(1)" not in html


def test_a_generated_product_links_to_the_example_shop(marketer_client):
    from products.services import product_bulk_upsert_generated

    product_bulk_upsert_generated(count=1, seed=19)
    product = Product.objects.get()

    links = shop_links(product_page(marketer_client, product.sku))

    assert links == [
        f'<a href="https://shop.example.com/p/{product.sku.lower()}" target="_blank" '
        'rel="noopener noreferrer">View on shop</a>'
    ]
