"""API tokens: the lookup is cached, and revoking a token or deactivating its user works at once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from creativeops.core.authentication import token_cache_key
from tests.factories.users import make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/products"


@pytest.fixture
def token():
    return Token.objects.create(user=make_user("api-client", is_staff=False))


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _token_queries(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "authtoken_token" in query["sql"]]


def test_the_second_request_reads_the_token_from_the_cache(token):
    client = _client(token.key)
    with CaptureQueriesContext(connection) as first:
        assert client.get(URL).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(URL).status_code == 200

    assert len(_token_queries(first)) == 1
    assert _token_queries(second) == []
    # The cache key is a hash: the cache never holds the credential itself.
    assert token.key not in token_cache_key(token.key)
    assert cache.get(token_cache_key(token.key)).user_id == token.user_id


def test_a_deleted_token_is_refused_on_the_next_request(token):
    key = token.key
    client = _client(key)
    assert client.get(URL).status_code == 200

    token.delete()

    response = client.get(URL)
    assert response.status_code == 401
    assert cache.get(token_cache_key(key)) is None


def test_deleting_tokens_through_a_queryset_also_revokes_them(token):
    client = _client(token.key)
    assert client.get(URL).status_code == 200

    Token.objects.filter(user=token.user).delete()

    assert client.get(URL).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_request(token):
    client = _client(token.key)
    assert client.get(URL).status_code == 200

    token.user.is_active = False
    token.user.save()

    response = client.get(URL)
    assert response.status_code == 401
    assert "inactive" in response.json()["error"]["message"].lower()


def test_an_unknown_token_is_refused_and_not_cached():
    response = _client("0" * 40).get(URL)

    assert response.status_code == 401
    assert cache.get(token_cache_key("0" * 40)) is None


def test_a_cache_outage_falls_back_to_the_database(token, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", unreachable)
    monkeypatch.setattr(cache, "set", unreachable)

    assert _client(token.key).get(URL).status_code == 200
    assert _client("0" * 40).get(URL).status_code == 401
