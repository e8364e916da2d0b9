"""Brute-force protection: login lockouts per account and per client address (django-axes), shown
to operators in the admin with an unlock path, and a 429 for an address that keeps guessing API tokens."""

from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories.users import TEST_PASSWORD, make_user

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
API = "/api/v1/products"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.API_TOKEN_FAILURE_LIMIT = 4


def login(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_an_account_is_locked_after_the_failure_limit_even_with_the_right_password(client, operator_user):
    failures = [login(client, "operator", f"wrong-{n}").status_code for n in range(3)]
    locked = login(client, "operator", TEST_PASSWORD)

    assert failures == [200, 200, 429]
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_account_lock_holds_from_another_address(client, operator_user):
    for n, address in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        login(client, "operator", f"wrong-{n}", address)

    assert login(client, "operator", TEST_PASSWORD, "10.9.9.9").status_code == 429


def test_an_address_is_locked_whatever_account_it_tries(client, operator_user):
    for name in ("alice", "bob", "carol"):
        login(client, name, "guess", "10.0.0.7")

    assert login(client, "operator", TEST_PASSWORD, "10.0.0.7").status_code == 429
    assert login(client, "operator", TEST_PASSWORD, "10.0.0.8").status_code == 302


def test_operators_see_the_lockout_in_the_admin_and_can_unlock_it(client, operator_user):
    for n in range(3):
        login(client, "operator", f"wrong-{n}", "10.0.0.1")
    reviewer = make_user("second-operator", groups=["operators"])
    client.force_login(reviewer)

    page = client.get("/admin/axes/accessattempt/")
    attempt = AccessAttempt.objects.get(username="operator")
    unlocked = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    client.logout()

    assert page.status_code == 200
    assert "operator" in page.content.decode()
    assert unlocked.status_code == 302
    assert login(client, "operator", TEST_PASSWORD, "10.0.0.1").status_code == 302


def test_the_reset_command_unlocks_an_account(client, operator_user):
    for n in range(3):
        login(client, "operator", f"wrong-{n}")

    call_command("axes_reset_username", "operator", stdout=io.StringIO())

    assert login(client, "operator", TEST_PASSWORD).status_code == 302


def test_a_successful_login_resets_the_count(client, operator_user):
    login(client, "operator", "wrong-1")
    login(client, "operator", "wrong-2")
    assert login(client, "operator", TEST_PASSWORD).status_code == 302
    client.logout()

    assert [login(client, "operator", f"again-{n}").status_code for n in range(2)] == [200, 200]


def _api(key: str, address: str = "10.1.1.1") -> int:
    client = APIClient(REMOTE_ADDR=address)
    return client.get(API, HTTP_AUTHORIZATION=f"Token {key}")


def test_an_address_that_keeps_guessing_tokens_gets_a_429_even_for_a_valid_one():
    valid = Token.objects.create(user=make_user("api-client", is_staff=False)).key

    statuses = [_api(f"{n:040d}").status_code for n in range(5)]
    refused = _api(valid)

    assert statuses == [401, 401, 401, 401, 429]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["message"].startswith(
        "4 invalid API tokens from this address; the limit is 4 per 300 s (API_TOKEN_FAILURE_LIMIT). "
        "Retry in "
    )
    assert 0 < error["wait"] <= 300
    assert int(refused["Retry-After"]) > 0
    assert _api(valid, address="10.1.1.2").status_code == 200  # other addresses are not affected


def test_behind_a_proxy_the_client_is_read_from_x_forwarded_for(settings):
    settings.CLIENT_IP_PROXY_COUNT = 1
    valid = Token.objects.create(user=make_user("api-client", is_staff=False)).key
    proxy = "10.2.0.1"
    for n in range(4):
        APIClient(REMOTE_ADDR=proxy).get(
            API, HTTP_AUTHORIZATION=f"Token {n:040d}", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
        )

    other_client = APIClient(REMOTE_ADDR=proxy).get(
        API, HTTP_AUTHORIZATION=f"Token {valid}", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    guesser = APIClient(REMOTE_ADDR=proxy).get(
        API, HTTP_AUTHORIZATION=f"Token {valid}", HTTP_X_FORWARDED_FOR="forged, 203.0.113.9"
    )

    assert other_client.status_code == 200
    assert guesser.status_code == 429
