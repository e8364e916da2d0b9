"""The operator API under /api/v1/models/…: the same services, permission-checked, errors as JSON."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote
from tests.factories.registry import model_version_with_artifact

pytestmark = pytest.mark.django_db

BASE = "/api/v1/models/creative-generator"


@pytest.fixture
def api(operator_user):
    client = APIClient()
    client.force_authenticate(operator_user)
    return client


@pytest.fixture
def marketer_api(marketer_user):
    client = APIClient()
    client.force_authenticate(marketer_user)
    return client


@pytest.fixture
def versions():
    return [model_version_with_artifact(version=number) for number in (1, 2)]


def statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.values_list("version", "status"))


def test_list_versions_newest_first(api, versions, operator_user):
    model_version_promote(version=versions[0], actor=operator_user, reason="First.")

    response = api.get(f"{BASE}/versions")

    assert response.status_code == 200
    body = response.json()
    assert [(item["version"], item["status"]) for item in body] == [(2, "candidate"), (1, "production")]
    first = body[1]
    assert first["promoted_by"] == "operator"
    assert first["primary_metric"] == 0.40
    assert first["dataset_version"] == versions[0].training_run.dataset_version.number
    assert "sample_outputs" not in first["evaluation"]
    assert first["evaluation"]["test"]["candidate"]["rouge_l"] == 0.40


def test_list_of_an_unknown_model_is_404(api):
    response = api.get("/api/v1/models/nope/versions")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "There is no model named nope."}}


def test_listing_needs_the_view_permission(marketer_api, versions):
    response = marketer_api.get(f"{BASE}/versions")

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Listing model versions needs the operator permission registry.view_modelversion."
        }
    }


def test_anonymous_requests_are_refused(versions):
    response = APIClient().get(f"{BASE}/versions")

    assert response.status_code == 401


def test_promote(api, versions, operator_user):
    response = api.post(f"{BASE}/versions/1/promote", {"reason": "First model."}, format="json")

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["status"]) == (1, "production")
    assert statuses() == {1: "production", 2: "candidate"}
    event = RegistryEvent.objects.get()
    assert (event.action, event.actor, event.reason) == ("promote", operator_user, "First model.")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "reason: This field is required."),
        ({"reason": ""}, "reason: This field may not be blank."),
        ({"reason": "x" * 2001}, "reason: Ensure this field has no more than 2000 characters."),
        ({"reason": "ok", "force": "maybe"}, "force: Must be a valid boolean."),
    ],
)
def test_promote_validates_its_input(api, versions, payload, message):
    response = api.post(f"{BASE}/versions/1/promote", payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert statuses() == {1: "candidate", 2: "candidate"}


def test_promote_an_unknown_version_is_404(api, versions):
    response = api.post(f"{BASE}/versions/9/promote", {"reason": "Ship."}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "creative-generator has no version 9."}}


def test_promote_needs_the_permission(marketer_api, versions):
    response = marketer_api.post(f"{BASE}/versions/1/promote", {"reason": "Ship."}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Promoting a model version needs the operator permission registry.promote_modelversion."
    )
    assert statuses() == {1: "candidate", 2: "candidate"}


def test_promote_a_rejected_version_needs_force(api):
    model_version_with_artifact(version=1, status=ModelVersion.Status.REJECTED, gate_passed=False)

    refused = api.post(f"{BASE}/versions/1/promote", {"reason": "Ship."}, format="json")
    forced = api.post(f"{BASE}/versions/1/promote", {"reason": "Ship anyway.", "force": True}, format="json")

    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "creative-generator v1 was rejected by the evaluation gate; promoting it anyway needs "
        "an explicit override of the gate and the override permission.",
        "field": "force",
    }
    assert forced.status_code == 200
    assert RegistryEvent.objects.get().action == RegistryEvent.Action.OVERRIDE_PROMOTE


def test_rollback(api, versions, operator_user):
    for version in versions:
        model_version_promote(version=version, actor=operator_user, reason="Promote.")

    response = api.post(f"{BASE}/rollback", {"reason": "v2 writes wrong prices."}, format="json")

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["status"]) == (1, "production")
    assert statuses() == {1: "production", 2: "archived"}


def test_rollback_to_a_chosen_version_and_refusals(api, versions, operator_user):
    model_version_promote(version=versions[0], actor=operator_user, reason="First.")

    nowhere = api.post(f"{BASE}/rollback", {"reason": "Undo."}, format="json")
    never = api.post(f"{BASE}/rollback", {"reason": "Try v2.", "to_version": 2}, format="json")
    invalid = api.post(f"{BASE}/rollback", {"reason": "Try.", "to_version": 0}, format="json")

    assert nowhere.status_code == 400
    assert nowhere.json()["error"]["message"] == (
        "There is no earlier production version of creative-generator to roll back to"
    )
    assert never.json()["error"] == {
        "message": "creative-generator v2 was never in production; promote it instead of rolling back to it.",
        "field": "to_version",
    }
    assert (
        invalid.json()["error"]["message"] == "to_version: Ensure this value is greater than or equal to 1."
    )
    assert statuses() == {1: "production", 2: "candidate"}


def test_rollback_needs_the_permission(marketer_api, versions):
    response = marketer_api.post(f"{BASE}/rollback", {"reason": "Undo."}, format="json")

    assert response.status_code == 403
