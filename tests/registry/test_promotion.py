"""Promote, reject, roll back and archive: the database state, the audit event and the exact refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.files.storage import default_storage

from creativeops.core.errors import ApplicationError
from registry import selectors
from registry.models import ModelVersion, RegistryEvent
from registry.services import (
    NO_PRODUCTION,
    model_version_archive,
    model_version_auto_promote,
    model_version_promote,
    model_version_reject,
    model_version_rollback,
)
from tests.factories.registry import ModelVersionFactory, model_version_with_artifact
from tests.factories.users import make_user

pytestmark = pytest.mark.django_db

NAME = "creative-generator"
Status = ModelVersion.Status
Action = RegistryEvent.Action


def statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.filter(name=NAME).values_list("version", "status"))


def actions() -> list[tuple[str, int | None, int | None, str]]:
    """Events oldest first as (action, from version, to version, actor label)."""
    return [
        (
            event.action,
            event.from_version.version if event.from_version else None,
            event.to_version.version if event.to_version else None,
            event.actor_label,
        )
        for event in RegistryEvent.objects.order_by("created_at", "id").select_related(
            "from_version", "to_version"
        )
    ]


def promote(version, user, reason="Looks better on both sets.", **options):
    return model_version_promote(version=version, actor=user, reason=reason, **options)


@pytest.fixture
def three_versions():
    return [model_version_with_artifact(version=number) for number in (1, 2, 3)]


# --- promote ------------------------------------------------------------------------------------------


def test_promoting_the_first_candidate_makes_it_production(operator_user, three_versions):
    v1 = three_versions[0]

    promoted = promote(v1, operator_user, reason="First model; samples read well.")

    v1.refresh_from_db()
    assert promoted.pk == v1.pk
    assert v1.status == Status.PRODUCTION
    assert v1.promoted_by == operator_user
    assert v1.promoted_at is not None
    assert statuses() == {1: "production", 2: "candidate", 3: "candidate"}
    event = RegistryEvent.objects.get()
    assert (event.action, event.from_version, event.to_version) == (Action.PROMOTE, None, v1)
    assert (event.actor, event.actor_label) == (operator_user, "operator")
    assert event.reason == "First model; samples read well."
    assert event.metrics_snapshot["from"] is None
    assert event.metrics_snapshot["to"]["version"] == 1
    assert event.metrics_snapshot["to"]["metrics"] == v1.metrics
    assert event.metrics_snapshot["to"]["test"]["rouge_l"] == 0.40


def test_promoting_a_second_version_archives_the_previous_production(operator_user, three_versions):
    v1, v2, _v3 = three_versions
    promote(v1, operator_user)

    promote(v2, operator_user, reason="v2 beats v1 on test and golden.")

    assert statuses() == {1: "archived", 2: "production", 3: "candidate"}
    assert actions() == [("promote", None, 1, "operator"), ("promote", 1, 2, "operator")]
    last = RegistryEvent.objects.first()
    assert last.metrics_snapshot["from"]["version"] == 1
    assert last.metrics_snapshot["to"]["version"] == 2


def test_production_cache_key_is_bumped_only_after_commit(
    operator_user, three_versions, django_capture_on_commit_callbacks
):
    v1 = three_versions[0]
    key = selectors.production_cache_key(NAME)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        promote(v1, operator_user)
    assert cache.get(key) is None  # nothing is published before the transaction commits
    for callback in callbacks:
        callback()

    state = cache.get(key)
    v1.refresh_from_db()
    assert state == {
        "name": NAME,
        "version": 1,
        "id": v1.pk,
        "sha": v1.artifact_sha256,
        "artifact_uri": v1.artifact_uri,
        "changed_at": v1.promoted_at.isoformat(),
    }
    assert selectors.production_version_key(NAME) == state


def test_production_key_is_rebuilt_from_the_database_when_the_cache_lost_it(operator_user, three_versions):
    promote(three_versions[1], operator_user)
    cache.clear()

    state = selectors.production_version_key(NAME)

    assert state["version"] == 2
    assert cache.get(selectors.production_cache_key(NAME)) == state


def test_production_key_without_production_says_none():
    assert selectors.production_version_key(NAME) == {
        "name": NAME,
        "version": None,
        "id": None,
        "sha": None,
        "artifact_uri": None,
        "changed_at": None,
    }
    assert selectors.production_version(NAME) is None


def test_promoting_the_production_version_again_is_refused(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as error:
        promote(three_versions[0], operator_user)

    assert error.value.message == "creative-generator v1 is already in production."
    assert RegistryEvent.objects.count() == 1


def test_an_archived_version_cannot_be_promoted(operator_user, three_versions):
    promote(three_versions[0], operator_user)
    promote(three_versions[1], operator_user)

    with pytest.raises(ApplicationError) as error:
        promote(three_versions[0], operator_user)

    assert error.value.message == (
        "creative-generator v1 is archived; only a candidate can be promoted "
        "(roll back to return to an earlier production version)."
    )


def test_a_reason_is_required(operator_user, three_versions):
    with pytest.raises(ApplicationError) as error:
        promote(three_versions[0], operator_user, reason="   ")

    assert error.value.message == "A reason is required: it is kept in the audit trail."
    assert error.value.field == "reason"
    assert statuses()[1] == "candidate"
    assert not RegistryEvent.objects.exists()


def test_a_user_without_the_permission_cannot_promote(marketer_user, three_versions):
    with pytest.raises(ApplicationError) as error:
        promote(three_versions[0], marketer_user)

    assert error.value.message == "marketer does not have permission to promote model versions."
    assert error.value.status_code == 403
    assert statuses()[1] == "candidate"


def test_a_stale_decision_is_refused_when_production_moved(operator_user, three_versions):
    v1, v2, v3 = three_versions
    promote(v1, operator_user)
    seen = 1  # the operator looked at the page while v1 was production
    promote(v2, operator_user)  # someone else promoted meanwhile

    with pytest.raises(ApplicationError) as error:
        promote(v3, operator_user, expected_production=seen)

    assert (
        error.value.message == "Another promotion of creative-generator committed first; reload and try again"
    )
    assert error.value.status_code == 409
    assert statuses() == {1: "archived", 2: "production", 3: "candidate"}


def test_expecting_no_production_works_for_the_first_promotion(operator_user, three_versions):
    promote(three_versions[0], operator_user, expected_production=NO_PRODUCTION)

    assert statuses()[1] == "production"


# --- checksum --------------------------------------------------------------------------------------------


def test_a_changed_artifact_file_is_refused(operator_user, three_versions):
    v1 = three_versions[0]
    weights = Path(default_storage.path(v1.artifact_uri)) / "model.safetensors"
    weights.write_bytes(b"tampered")

    with pytest.raises(ApplicationError) as error:
        promote(v1, operator_user)

    assert error.value.message == (
        "The artifact of creative-generator v1 failed verification "
        "(model.safetensors: checksum differs from the manifest); it was not promoted."
    )
    assert statuses()[1] == "candidate"
    assert not RegistryEvent.objects.exists()


def test_an_artifact_replaced_after_registration_is_refused(operator_user, three_versions):
    v1 = three_versions[0]
    ModelVersion.objects.filter(pk=v1.pk).update(artifact_sha256="f" * 64)
    v1.refresh_from_db()

    with pytest.raises(ApplicationError) as error:
        promote(v1, operator_user)

    assert error.value.message.startswith(
        "The artifact of creative-generator v1 changed after it was recorded:"
    )
    assert error.value.message.endswith("the recorded one is ffffffffffff…; it was not promoted.")
    assert statuses()[1] == "candidate"


def test_a_missing_artifact_is_refused(operator_user):
    version = ModelVersionFactory(version=1)  # its artifact folder was never written

    with pytest.raises(ApplicationError) as error:
        promote(version, operator_user)

    assert error.value.message.startswith(f"Artifact {version.artifact_uri} is missing from artifact storage")
    assert error.value.message.endswith("creative-generator v1 was not promoted.")
    assert statuses()[1] == "candidate"


# --- override of the gate ----------------------------------------------------------------------------------


@pytest.fixture
def rejected_version():
    return model_version_with_artifact(
        version=1, status=Status.REJECTED, gate_passed=False, gate_reason="… → rejected (failed: latency)"
    )


def test_a_rejected_version_needs_force(operator_user, rejected_version):
    with pytest.raises(ApplicationError) as error:
        promote(rejected_version, operator_user)

    assert error.value.message == (
        "creative-generator v1 was rejected by the evaluation gate; promoting it anyway needs "
        "an explicit override of the gate and the override permission."
    )
    assert statuses()[1] == "rejected"


def test_force_without_the_override_permission_is_refused(rejected_version):
    promoter = make_user("promoter")
    promoter.user_permissions.add(Permission.objects.get(codename="promote_modelversion"))

    with pytest.raises(ApplicationError) as error:
        promote(rejected_version, promoter, force=True)

    assert error.value.message == "promoter does not have permission to override the gate for model versions."
    assert statuses()[1] == "rejected"
    assert not RegistryEvent.objects.exists()


def test_the_system_cannot_override_the_gate(rejected_version):
    with pytest.raises(ApplicationError) as error:
        promote(rejected_version, None, force=True)

    assert error.value.message == "Only a named user with the override permission can promote over the gate."


def test_force_with_the_override_permission_promotes_with_an_override_event(operator_user, rejected_version):
    promote(
        rejected_version, operator_user, force=True, reason="Latency rule is too strict for this release."
    )

    assert statuses()[1] == "production"
    assert actions() == [("override_promote", None, 1, "operator")]


# --- auto-promotion -----------------------------------------------------------------------------------------


def test_auto_promotion_is_recorded_as_the_system(three_versions):
    model_version_auto_promote(version=three_versions[0])

    assert statuses()[1] == "production"
    event = RegistryEvent.objects.get()
    assert (event.action, event.actor, event.actor_label) == (Action.AUTO_PROMOTE, None, "system")
    assert event.reason.startswith("Auto-promoted by policy (AUTO_PROMOTE): the gate passed.")


# --- reject -------------------------------------------------------------------------------------------------


def test_rejecting_a_candidate(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    model_version_reject(version=three_versions[1], actor=operator_user, reason="Headlines repeat the title.")

    assert statuses() == {1: "production", 2: "rejected", 3: "candidate"}
    event = RegistryEvent.objects.first()
    assert (event.action, event.from_version.version, event.to_version.version) == (Action.REJECT, 1, 2)
    assert event.reason == "Headlines repeat the title."


def test_only_a_candidate_can_be_rejected(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as error:
        model_version_reject(version=three_versions[0], actor=operator_user, reason="Bad copy.")

    assert error.value.message == "Only a candidate can be rejected; creative-generator v1 is production."
    assert statuses()[1] == "production"


# --- rollback -----------------------------------------------------------------------------------------------


def test_rollback_returns_to_the_previous_production(operator_user, three_versions):
    v1, v2, _v3 = three_versions
    promote(v1, operator_user)
    promote(v2, operator_user)

    restored = model_version_rollback(name=NAME, actor=operator_user, reason="v2 writes wrong prices.")

    assert restored.pk == v1.pk
    assert statuses() == {1: "production", 2: "archived", 3: "candidate"}
    assert actions()[-1] == ("rollback", 2, 1, "operator")
    v1.refresh_from_db()
    assert v1.promoted_by == operator_user


def test_rollback_to_a_chosen_earlier_production(operator_user, three_versions):
    v1, v2, v3 = three_versions
    for version in (v1, v2, v3):
        promote(version, operator_user)

    model_version_rollback(name=NAME, actor=operator_user, reason="Back to the first model.", to_version=1)

    assert statuses() == {1: "production", 2: "archived", 3: "archived"}
    assert actions()[-1] == ("rollback", 3, 1, "operator")


def test_rollback_after_rollback_goes_to_the_production_before_it(operator_user, three_versions):
    v1, v2, v3 = three_versions
    for version in (v1, v2, v3):
        promote(version, operator_user)
    model_version_rollback(name=NAME, actor=operator_user, reason="v3 is broken.")

    model_version_rollback(name=NAME, actor=operator_user, reason="v3 was fine after all.")

    # The production before v2 (the current one) was v3: the most recent earlier target.
    assert statuses() == {1: "archived", 2: "archived", 3: "production"}


def test_rollback_with_no_earlier_production_changes_nothing(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as error:
        model_version_rollback(name=NAME, actor=operator_user, reason="Undo.")

    assert (
        error.value.message == "There is no earlier production version of creative-generator to roll back to"
    )
    assert statuses() == {1: "production", 2: "candidate", 3: "candidate"}
    assert RegistryEvent.objects.count() == 1


def test_rollback_of_a_model_never_in_production(operator_user, three_versions):
    with pytest.raises(ApplicationError) as error:
        model_version_rollback(name=NAME, actor=operator_user, reason="Undo.")

    assert (
        error.value.message == "There is no earlier production version of creative-generator to roll back to"
    )
    assert not RegistryEvent.objects.exists()


def test_rollback_to_a_version_never_in_production_is_refused(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as error:
        model_version_rollback(name=NAME, actor=operator_user, reason="Try v3.", to_version=3)

    assert error.value.message == (
        "creative-generator v3 was never in production; promote it instead of rolling back to it."
    )
    assert statuses()[3] == "candidate"


def test_rollback_to_the_current_or_an_unknown_version_is_refused(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as current:
        model_version_rollback(name=NAME, actor=operator_user, reason="Again.", to_version=1)
    with pytest.raises(ApplicationError) as unknown:
        model_version_rollback(name=NAME, actor=operator_user, reason="Again.", to_version=9)

    assert current.value.message == "creative-generator v1 is already in production; nothing to roll back."
    assert unknown.value.message == "creative-generator has no version 9."
    assert unknown.value.status_code == 404


def test_rollback_verifies_the_target_artifact(operator_user, three_versions):
    v1, v2, _v3 = three_versions
    promote(v1, operator_user)
    promote(v2, operator_user)
    (Path(default_storage.path(v1.artifact_uri)) / "config.json").write_text("{}")

    with pytest.raises(ApplicationError) as error:
        model_version_rollback(name=NAME, actor=operator_user, reason="v2 is broken.")

    assert error.value.message == (
        "The artifact of creative-generator v1 failed verification "
        "(config.json: checksum differs from the manifest); it was not rolled back to."
    )
    assert statuses() == {1: "archived", 2: "production", 3: "candidate"}


def test_rollback_needs_its_permission(three_versions):
    promoter = make_user("promoter")
    promoter.user_permissions.add(Permission.objects.get(codename="promote_modelversion"))
    promote(three_versions[0], promoter)
    promote(three_versions[1], promoter)

    with pytest.raises(ApplicationError) as error:
        model_version_rollback(name=NAME, actor=promoter, reason="Undo.")

    assert error.value.message == "promoter does not have permission to roll back model versions."


# --- archive ------------------------------------------------------------------------------------------------


def test_archiving_a_candidate(operator_user, three_versions):
    model_version_archive(version=three_versions[2], actor=operator_user, reason="Superseded by v4 training.")

    assert statuses()[3] == "archived"
    assert actions() == [("archive", None, 3, "operator")]


def test_the_production_version_cannot_be_archived(operator_user, three_versions):
    promote(three_versions[0], operator_user)

    with pytest.raises(ApplicationError) as error:
        model_version_archive(version=three_versions[0], actor=operator_user, reason="Old.")

    assert error.value.message == (
        "creative-generator v1 is in production; promote or roll back to another version before archiving it."
    )
    assert statuses()[1] == "production"


def test_archiving_twice_is_refused(operator_user, three_versions):
    model_version_archive(version=three_versions[2], actor=operator_user, reason="Old.")

    with pytest.raises(ApplicationError) as error:
        model_version_archive(version=three_versions[2], actor=operator_user, reason="Old.")

    assert error.value.message == "creative-generator v3 is already archived."
    assert RegistryEvent.objects.count() == 1


def test_production_is_per_model_name(operator_user):
    first = model_version_with_artifact(version=1)
    other = model_version_with_artifact(version=1, name="headline-only")

    promote(first, operator_user)
    promote(other, operator_user)

    assert ModelVersion.objects.production().count() == 2
    assert selectors.production_version("headline-only") == other
