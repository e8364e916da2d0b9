"""A training run started by hand goes through the pipeline's gate: the admin action and the command."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from products.services import dataset_version_create, products_generate_and_store
from registry.models import ModelVersion, RegistryEvent
from tests.factories.registry import training_run_with_artifact
from tests.factories.training import TrainingRunFactory
from tests.factories.users import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHANGELIST = "admin:training_trainingrun_changelist"


@pytest.fixture
def trained_run(settings, tiny_artifacts):
    settings.CREATIVEOPS = {**settings.CREATIVEOPS, "GOLDEN_SET_SIZE": 24, "AUTO_PROMOTE": False}
    products_generate_and_store(count=60, seed=11)
    return training_run_with_artifact(
        tiny_artifacts["trained"], dataset_version=dataset_version_create(trigger="manual")
    )


def _post_action(client, run_ids):
    return client.post(
        reverse(CHANGELIST),
        {"action": "evaluate_and_register", "_selected_action": [str(pk) for pk in run_ids]},
        follow=True,
    )


def test_the_admin_action_registers_through_the_gate(client, operator_user, trained_run):
    client.force_login(operator_user)

    response = _post_action(client, [trained_run.pk])

    version = ModelVersion.objects.get(training_run=trained_run)
    assert (version.version, version.status, version.gate_passed) == (1, "candidate", True)
    assert version.evaluation["golden"]["rows"] == 24
    event = RegistryEvent.objects.get()
    assert (event.action, event.actor) == ("register", operator_user)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        f"Training run #{trained_run.pk} is creative-generator v1 (candidate): it passed the gate. "
        f"{version.gate_reason}"
    ]


def test_the_action_names_a_run_that_cannot_be_registered(client, operator_user):
    failed = TrainingRunFactory(failed=True)
    client.force_login(operator_user)

    response = _post_action(client, [failed.pk])

    assert not ModelVersion.objects.exists()
    assert [str(message) for message in response.context["messages"]] == [
        f"Training run #{failed.pk}: Training run #{failed.pk} is failed; "
        "only a succeeded run can be registered."
    ]


def test_the_action_is_offered_only_with_the_register_permission(client, trained_run):
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="training", codename="view_trainingrun")
    )
    client.force_login(viewer)

    page = client.get(reverse(CHANGELIST))
    response = _post_action(client, [trained_run.pk])

    assert b"evaluate_and_register" not in page.content
    assert response.status_code == 200 and not ModelVersion.objects.exists()


def test_the_command_registers_and_prints_the_decision(trained_run, capsys):
    call_command("register", "--training-run", str(trained_run.pk))

    version = ModelVersion.objects.get(training_run=trained_run)
    out = capsys.readouterr().out
    assert f"Training run #{trained_run.pk} is creative-generator v1 (candidate)." in out
    assert version.gate_reason in out


def test_the_command_refuses_an_unknown_run():
    with pytest.raises(CommandError, match=r"No training run #999\."):
        call_command("register", "--training-run", "999")
