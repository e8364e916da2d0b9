"""The Content-Security-Policy header: on the marketers' pages, the admin and the API, strict for
scripts; and the pages it covers carry no inline script or event-handler attribute it would block."""

from __future__ import annotations

import re

import pytest

from creativeops.core.middleware import content_security_policy
from registry.models import ModelVersion
from tests.pages.builders import make_catalog_creatives, make_model_version, make_product

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


@pytest.fixture
def shop():
    production = make_model_version(1, status=ModelVersion.Status.PRODUCTION)
    product = make_product("CSP-1/A")
    make_catalog_creatives(production, [product])
    return product


def _assert_runs_under_the_policy(response):
    assert response["Content-Security-Policy"] == POLICY
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group()
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html).group()
    assert not JAVASCRIPT_URL.search(html)


@pytest.mark.parametrize(
    "path", ["/creatives/", "/creatives/product/CSP-1~2FA/", "/accounts/login/", "/creatives/?q=zzz"]
)
def test_the_marketers_pages_carry_the_policy_and_no_inline_script(client, marketer_user, shop, path):
    if path != "/accounts/login/":
        client.force_login(marketer_user)

    response = client.get(path)

    assert response.status_code == 200
    _assert_runs_under_the_policy(response)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/login/",
        "/admin/",
        "/admin/products/product/",
        "/admin/products/product/import/",
        "/admin/registry/modelversion/",
        "/admin/training/trainingrun/",
        "/admin/pipeline/pipelinerun/",
        "/admin/axes/accessattempt/",
    ],
)
def test_the_admin_carries_the_policy_and_no_inline_script(client, operator_user, shop, path):
    if path != "/admin/login/":
        client.force_login(operator_user)

    response = client.get(path)

    assert response.status_code == 200, path
    _assert_runs_under_the_policy(response)


def test_the_product_change_page_runs_under_the_policy(client, operator_user, shop):
    client.force_login(operator_user)

    _assert_runs_under_the_policy(client.get(f"/admin/products/product/{shop.pk}/change/"))


def test_api_answers_carry_it_and_only_the_api_docs_allow_their_cdn(client):
    assert client.get("/api/v1/products")["Content-Security-Policy"] == POLICY
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert docs["Content-Security-Policy"] == content_security_policy("/api/docs/")
    assert "script-src 'self' https://cdn.jsdelivr.net" in docs["Content-Security-Policy"]
    assert not INLINE_SCRIPT.search(docs.content.decode())
