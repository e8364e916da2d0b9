"""The operator console in the admin: confirmation pages, reasons, permissions, messages, read-only audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.urls import reverse

from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote
from tests.factories.registry import evaluation_for, model_version_with_artifact
from tests.factories.users import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:registry_modelversion_changelist"
Status = ModelVersion.Status


@pytest.fixture
def operator_client(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def viewer_client(client):
    """Staff who may look at the registry but change nothing."""
    viewer = make_user("viewer")
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "view_registryevent"])
    )
    client.force_login(viewer)
    return client


@pytest.fixture
def production_and_candidate(operator_user):
    v1 = model_version_with_artifact(version=1)
    model_version_promote(version=v1, actor=operator_user, reason="First model.")
    v2 = model_version_with_artifact(
        version=2,
        evaluation={
            **evaluation_for(test=0.43, golden=0.41, production=(0.40, 0.38), against=1),
            "sample_outputs": [
                {
                    "sku": "SKU-00001",
                    "title": "Ridgeway Backpack 30 L",
                    "brand": "Ridgeway",
                    "tone": "bold",
                    "reference": {
                        "headline": "Meet the Ridgeway backpack",
                        "body": "30 L.",
                        "cta": "Get yours",
                    },
                    "candidate": {
                        "headline": "Ridgeway backpack, 30 L",
                        "body": "Sheds rain.",
                        "cta": "Shop",
                    },
                    "production": {"headline": "A backpack", "body": "Good.", "cta": "Buy"},
                }
            ],
        },
        gate_reason="rouge_l 0.430 vs production 0.400 on test (+0.030 ≥ 0.000) → candidate",
    )
    return v1, v2


def post_action(client, action: str, version, **data):
    payload = {"action": action, "_selected_action": [version.pk], **data}
    return client.post(reverse(CHANGELIST), payload)


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.values_list("version", "status"))


# --- list and detail ---------------------------------------------------------------------------------------


def test_changelist_shows_badges_metric_change_and_the_operator_actions(
    operator_client, production_and_candidate
):
    response = operator_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="registry-badge registry-badge-production"' in html
    assert 'class="registry-badge registry-badge-candidate"' in html
    assert "+0.030 vs v1" in html  # v2's change against the production it was compared with
    for action in ("promote_action", "rollback_action", "reject_action", "archive_action"):
        assert f'value="{action}"' in html
    assert 'value="delete_selected"' not in html


def test_detail_page_compares_the_version_with_production_side_by_side(
    operator_client, production_and_candidate
):
    _v1, v2 = production_and_candidate

    response = operator_client.get(reverse("admin:registry_modelversion_change", args=[v2.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Compared with production on the same data" in html
    assert "<td>0.430</td>" in html and "<td>0.400</td>" in html and "+0.030" in html  # test split
    assert "<td>0.410</td>" in html and "<td>0.380</td>" in html  # golden set
    # the change with its bootstrap interval, and where it comes from
    change = "rouge_l on the test split of its dataset: +0.030, 95% interval +0.010 … +0.050 on 64 items"
    assert change in html
    assert "the interval does not include 0" in html and "<td>Toys</td><td>64</td>" in html
    assert "Ridgeway backpack, 30 L" in html and "A backpack" in html  # both models, same product
    assert "<svg" in html and "rouge_l by version of creative-generator" in html
    assert "Event history" in html
    assert "Approve and promote" in html and "Reject" in html
    assert 'name="_save"' not in html  # read-only: rows change only through the services


def test_detail_page_lists_the_events_of_the_version(operator_client, production_and_candidate):
    v1, _v2 = production_and_candidate

    html = operator_client.get(reverse("admin:registry_modelversion_change", args=[v1.pk])).content.decode()

    assert "Event history" in html
    assert "First model." in html


# --- promote through the confirmation page ------------------------------------------------------------------


def test_promote_asks_for_confirmation_then_promotes_with_the_reason(
    operator_client, production_and_candidate
):
    _v1, v2 = production_and_candidate

    confirmation = post_action(operator_client, "promote_action", v2)

    assert confirmation.status_code == 200
    assert "admin/registry/modelversion/confirm_action.html" in [t.name for t in confirmation.templates]
    assert "Yes, promote to production" in confirmation.content.decode()
    assert 'name="expected_production" value="1"' in confirmation.content.decode()
    assert "rouge_l at evaluation: +0.030 vs v1" in confirmation.content.decode()
    assert statuses() == {1: "production", 2: "candidate"}  # nothing happens before confirming

    done = post_action(
        operator_client,
        "promote_action",
        v2,
        confirm="yes",
        reason="Better on both sets.",
        expected_production="1",
    )

    assert done.status_code == 302
    assert statuses() == {1: "archived", 2: "production"}
    event = RegistryEvent.objects.first()
    assert (event.action, event.from_version.version, event.to_version.version) == ("promote", 1, 2)
    assert (event.actor_label, event.reason) == ("operator", "Better on both sets.")
    assert messages_of(done) == [("success", "Promoted creative-generator v2 to production.")]


def test_confirming_without_a_reason_shows_the_page_again(operator_client, production_and_candidate):
    _v1, v2 = production_and_candidate

    response = post_action(operator_client, "promote_action", v2, confirm="yes", reason="  ")

    assert response.status_code == 200
    assert "Give a reason: it is kept in the audit trail." in response.content.decode()
    assert statuses() == {1: "production", 2: "candidate"}


def test_a_service_refusal_is_an_error_message(operator_client, production_and_candidate):
    _v1, v2 = production_and_candidate
    (Path(default_storage.path(v2.artifact_uri)) / "model.safetensors").write_bytes(b"tampered")

    response = post_action(operator_client, "promote_action", v2, confirm="yes", reason="Ship it.")

    assert response.status_code == 302
    assert messages_of(response) == [
        (
            "error",
            "The artifact of creative-generator v2 failed verification "
            "(model.safetensors: checksum differs from the manifest); it was not promoted.",
        )
    ]
    assert statuses() == {1: "production", 2: "candidate"}


def test_a_stale_confirmation_page_is_refused(operator_client, production_and_candidate, operator_user):
    _v1, v2 = production_and_candidate
    v3 = model_version_with_artifact(version=3)
    model_version_promote(version=v3, actor=operator_user, reason="Someone else was faster.")

    response = post_action(
        operator_client, "promote_action", v2, confirm="yes", reason="Ship it.", expected_production="1"
    )

    assert messages_of(response) == [
        ("error", "Another promotion of creative-generator committed first; reload and try again")
    ]
    assert statuses() == {1: "archived", 2: "candidate", 3: "production"}


def test_promote_needs_exactly_one_version(operator_client, production_and_candidate):
    v1, v2 = production_and_candidate

    response = operator_client.post(
        reverse(CHANGELIST), {"action": "promote_action", "_selected_action": [v1.pk, v2.pk]}
    )

    assert messages_of(response) == [
        ("error", "Approve and promote: select exactly one version (you selected 2).")
    ]


# --- override of the gate -----------------------------------------------------------------------------------


@pytest.fixture
def rejected(production_and_candidate):
    return model_version_with_artifact(
        version=3, status=Status.REJECTED, gate_passed=False, gate_reason="→ rejected"
    )


def test_promoting_a_rejected_version_offers_the_override_checkbox(operator_client, rejected):
    html = post_action(operator_client, "promote_action", rejected).content.decode()

    assert 'name="override_gate"' in html
    assert "Override the gate" in html


def test_promoting_a_rejected_version_without_the_checkbox_is_refused(operator_client, rejected):
    response = post_action(operator_client, "promote_action", rejected, confirm="yes", reason="Ship it.")

    assert messages_of(response) == [
        (
            "error",
            "creative-generator v3 was rejected by the evaluation gate; promoting it anyway needs "
            "an explicit override of the gate and the override permission.",
        )
    ]
    assert statuses()[3] == "rejected"


def test_overriding_the_gate_with_the_checkbox(operator_client, rejected):
    response = post_action(
        operator_client,
        "promote_action",
        rejected,
        confirm="yes",
        reason="Latency rule misfired.",
        override_gate="on",
    )

    assert response.status_code == 302
    assert statuses()[3] == "production"
    assert RegistryEvent.objects.first().action == RegistryEvent.Action.OVERRIDE_PROMOTE


def test_without_the_override_permission_the_checkbox_is_not_offered_and_force_fails(client, rejected):
    promoter = make_user("promoter")
    promoter.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "promote_modelversion"])
    )
    client.force_login(promoter)

    page = post_action(client, "promote_action", rejected).content.decode()
    forced = post_action(
        client, "promote_action", rejected, confirm="yes", reason="Ship it.", override_gate="on"
    )

    assert 'name="override_gate"' not in page
    assert "which your account does not have" in page
    assert messages_of(forced) == [
        ("error", "promoter does not have permission to override the gate for model versions.")
    ]
    assert statuses()[3] == "rejected"


# --- the other actions --------------------------------------------------------------------------------------


def test_roll_back_to_this_version(operator_client, production_and_candidate, operator_user):
    v1, v2 = production_and_candidate
    model_version_promote(version=v2, actor=operator_user, reason="v2 is better.")

    response = post_action(
        operator_client, "rollback_action", v1, confirm="yes", reason="v2 writes wrong prices."
    )

    assert messages_of(response) == [
        ("success", "Rolled creative-generator back to v1; it is in production again.")
    ]
    assert statuses() == {1: "production", 2: "archived"}
    assert RegistryEvent.objects.first().action == RegistryEvent.Action.ROLLBACK


def test_reject_and_archive(operator_client, production_and_candidate):
    _v1, v2 = production_and_candidate
    v3 = model_version_with_artifact(version=3)

    rejected = post_action(
        operator_client, "reject_action", v2, confirm="yes", reason="Headlines repeat titles."
    )
    archived = post_action(operator_client, "archive_action", v3, confirm="yes", reason="Superseded.")

    assert ("success", "Rejected creative-generator v2.") in messages_of(rejected)
    assert ("success", "Archived creative-generator v3.") in messages_of(archived)
    assert statuses() == {1: "production", 2: "rejected", 3: "archived"}
    assert [event.action for event in RegistryEvent.objects.all()[:2]] == ["archive", "reject"]


# --- a user without the permissions -------------------------------------------------------------------------


def test_without_permissions_the_actions_are_absent(viewer_client, production_and_candidate):
    _v1, v2 = production_and_candidate

    changelist = viewer_client.get(reverse(CHANGELIST)).content.decode()
    detail = viewer_client.get(reverse("admin:registry_modelversion_change", args=[v2.pk])).content.decode()

    for action in ("promote_action", "rollback_action", "reject_action", "archive_action"):
        assert f'value="{action}"' not in changelist
        assert f'value="{action}"' not in detail
    assert "Compared with production on the same data" in detail  # they can still look


@pytest.mark.parametrize("action", ["promote_action", "rollback_action", "reject_action", "archive_action"])
def test_a_forged_post_from_a_viewer_changes_nothing(viewer_client, production_and_candidate, action):
    v1, v2 = production_and_candidate
    target = v1 if action == "rollback_action" else v2

    response = post_action(viewer_client, action, target, confirm="yes", reason="Forged.")

    assert response.status_code == 200  # the plain changelist: this user has no action at all
    assert "Yes, " not in response.content.decode()
    assert statuses() == {1: "production", 2: "candidate"}
    assert RegistryEvent.objects.count() == 1  # only the first promotion of the fixture


@pytest.mark.parametrize("action", ["promote_action", "rollback_action", "archive_action"])
def test_a_forged_post_of_an_action_the_user_lacks_is_refused(client, production_and_candidate, action):
    """A user who may only reject posts another action's name directly: Django refuses it."""
    v1, v2 = production_and_candidate
    rejecter = make_user("rejecter")
    rejecter.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "reject_modelversion"])
    )
    client.force_login(rejecter)
    target = v1 if action == "rollback_action" else v2

    page = client.get(reverse(CHANGELIST)).content.decode()
    response = post_action(client, action, target, confirm="yes", reason="Forged.")

    assert 'value="reject_action"' in page and f'value="{action}"' not in page
    assert response.status_code == 302
    assert messages_of(response) == [("warning", "No action selected.")]
    assert statuses() == {1: "production", 2: "candidate"}
    assert RegistryEvent.objects.count() == 1


def test_a_marketer_cannot_open_the_console(client, marketer_user, production_and_candidate):
    client.force_login(marketer_user)

    response = client.get(reverse(CHANGELIST))

    # Marketers are not staff: the admin sends them to its login page.
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- the audit trail ----------------------------------------------------------------------------------------


def test_event_list_is_read_only_and_filterable(operator_client, production_and_candidate):
    event = RegistryEvent.objects.get()

    listing = operator_client.get(reverse("admin:registry_registryevent_changelist"), {"action": "promote"})
    searched = operator_client.get(reverse("admin:registry_registryevent_changelist"), {"q": "First model"})
    detail = operator_client.get(reverse("admin:registry_registryevent_change", args=[event.pk]))
    add = operator_client.get(reverse("admin:registry_registryevent_add"))
    delete = operator_client.post(
        reverse("admin:registry_registryevent_delete", args=[event.pk]), {"post": "yes"}
    )

    assert listing.status_code == 200 and "First model." in listing.content.decode()
    assert searched.status_code == 200 and "First model." in searched.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert add.status_code == 403
    assert delete.status_code == 403
    assert RegistryEvent.objects.get().reason == "First model."


def test_even_a_superuser_cannot_change_events_or_versions_in_the_admin(client, production_and_candidate):
    client.force_login(make_user("root", is_superuser=True))
    event = RegistryEvent.objects.get()

    event_change = client.post(
        reverse("admin:registry_registryevent_change", args=[event.pk]), {"reason": "x"}
    )
    version_add = client.get(reverse("admin:registry_modelversion_add"))

    assert event_change.status_code == 403
    assert version_add.status_code == 403
    assert RegistryEvent.objects.get().reason == "First model."
