"""Who reaches what: marketers browse and regenerate but never the registry; anonymous visitors log in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import ModelVersion, RegistryEvent
from tests.factories.users import TEST_PASSWORD
from tests.pages.builders import make_model_version, page_text

pytestmark = pytest.mark.django_db


def test_marketers_are_not_staff_and_get_the_admin_login_for_registry_pages(marketer_client, marketer):
    assert not marketer.is_staff

    response = marketer_client.get("/admin/registry/modelversion/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/registry/modelversion/"


def test_a_marketer_cannot_run_the_promote_action(marketer_client):
    make_model_version(1, status=ModelVersion.Status.PRODUCTION)
    candidate = make_model_version(2, status=ModelVersion.Status.CANDIDATE)

    response = marketer_client.post(
        "/admin/registry/modelversion/",
        {
            "action": "promote_action",
            "_selected_action": [candidate.pk],
            "confirm": "yes",
            "reason": "sneaky",
        },
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE
    assert not RegistryEvent.objects.filter(action=RegistryEvent.Action.PROMOTE).exists()


def test_login_page_logs_in_and_returns_to_the_page_asked_for(client, marketer):
    login_page = client.get("/accounts/login/?next=/creatives/")
    assert b'<label for="id_username">Username</label>' in login_page.content

    response = client.post(
        "/accounts/login/", {"username": marketer.username, "password": TEST_PASSWORD, "next": "/creatives/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/creatives/"


def test_login_with_a_wrong_password_says_so(client, marketer):
    response = client.post("/accounts/login/", {"username": marketer.username, "password": "nope"})

    assert response.status_code == 200
    assert (
        "Please enter a correct username and password. Note that both fields may be case-sensitive."
        in page_text(response)
    )


def test_nav_shows_the_user_and_a_post_logout_form(marketer_client, marketer):
    response = marketer_client.get(reverse("creatives:list"))

    html = response.content.decode()
    assert "Signed in as page-marketer" in page_text(response)
    assert '<form method="post" action="/accounts/logout/">' in html
    assert 'href="/admin/"' not in html  # marketers get no way into the admin
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html
    assert '<main id="main" tabindex="-1">' in html

    logged_out = marketer_client.post("/accounts/logout/")
    assert logged_out.status_code == 200
    assert "You are logged out" in page_text(logged_out)
    assert marketer_client.get(reverse("creatives:list")).status_code == 302


def test_operators_see_the_admin_link(client, operator):
    client.force_login(operator)

    assert 'href="/admin/"' in client.get(reverse("creatives:list")).content.decode()


@pytest.mark.django_db
def test_every_permission_a_role_names_exists_and_the_group_holds_it():
    """The role migration skips a permission whose model a migration has not made yet (a later one
    syncs again); after all migrations, every name must exist, or a typo would pass unnoticed."""
    from django.contrib.auth.models import Group, Permission

    from creativeops.core.roles import ROLE_PERMISSIONS

    for group_name, pairs in ROLE_PERMISSIONS.items():
        held = set(
            Group.objects.get(name=group_name).permissions.values_list("content_type__app_label", "codename")
        )
        for app_label, codename in pairs:
            assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), (
                group_name,
                app_label,
                codename,
            )
            assert (app_label, codename) in held, (group_name, app_label, codename)
