"""manage.py promote / rollback / registry_status: the same services, errors as messages with exit 1."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from registry.models import ModelVersion, RegistryEvent
from registry.services import model_version_promote
from tests.factories.registry import model_version_with_artifact

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions():
    return [model_version_with_artifact(version=number) for number in (1, 2)]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.values_list("version", "status"))


def test_promote_command_records_the_shell_user(versions):
    output = run("promote", "1", "--reason", "First model from the CLI.")

    assert output.strip() == "creative-generator v1 is now in production."
    assert statuses() == {1: "production", 2: "candidate"}
    event = RegistryEvent.objects.get()
    assert event.actor is None
    assert event.actor_label.startswith("manage.py:")
    assert event.reason == "First model from the CLI."


def test_promote_command_reports_the_version_its_transaction_archived_under_a_concurrent_promotion(
    monkeypatch,
):
    v1, v2, v3 = (model_version_with_artifact(version=number) for number in (1, 2, 3))
    model_version_promote(version=v1, actor=None, reason="First.")
    real_promote = model_version_promote

    def another_operator_promotes_v2_first(**kwargs):
        # Commits after the command looked up its target, before the command's own transaction.
        real_promote(version=v2, actor=None, reason="Meanwhile, elsewhere.")
        return real_promote(**kwargs)

    monkeypatch.setattr(
        "registry.management.commands.promote.model_version_promote", another_operator_promotes_v2_first
    )

    output = run("promote", "3", "--reason", "Mine.")

    assert output.strip() == "creative-generator v3 is now in production (v2 archived)."
    event = RegistryEvent.objects.filter(to_version=v3).get()
    assert event.from_version == v2
    assert statuses() == {1: "archived", 2: "archived", 3: "production"}


def test_promote_command_as_a_named_user(versions, operator_user):
    run("promote", "1", "--reason", "First.", "--actor", "operator")

    output = run("promote", "2", "--reason", "Second.", "--actor", "operator")

    assert output.strip() == "creative-generator v2 is now in production (v1 archived)."
    assert RegistryEvent.objects.first().actor == operator_user


def test_promote_command_errors_are_messages(versions, marketer_user):
    with pytest.raises(CommandError, match="^creative-generator has no version 7.$"):
        run("promote", "7", "--reason", "Missing.")
    with pytest.raises(CommandError, match="^A reason is required: it is kept in the audit trail.$"):
        run("promote", "1", "--reason", " ")
    with pytest.raises(CommandError, match="^marketer does not have permission to promote model versions.$"):
        run("promote", "1", "--reason", "Try.", "--actor", "marketer")
    with pytest.raises(CommandError, match="^No active user named 'nobody'.$"):
        run("promote", "1", "--reason", "Try.", "--actor", "nobody")

    assert statuses() == {1: "candidate", 2: "candidate"}


def test_promote_command_force_overrides_the_gate_for_a_permitted_user(operator_user):
    model_version_with_artifact(version=1, status=ModelVersion.Status.REJECTED, gate_passed=False)

    with pytest.raises(CommandError, match="needs an explicit override of the gate"):
        run("promote", "1", "--reason", "Ship.", "--actor", "operator")
    with pytest.raises(CommandError, match="^Only a named user with the override permission"):
        run("promote", "1", "--reason", "Ship.", "--force")
    run("promote", "1", "--reason", "Ship.", "--force", "--actor", "operator")

    assert statuses() == {1: "production"}
    assert RegistryEvent.objects.get().action == RegistryEvent.Action.OVERRIDE_PROMOTE


def test_rollback_command(versions, operator_user):
    for version in versions:
        model_version_promote(version=version, actor=operator_user, reason="Promote.")

    output = run("rollback", "--reason", "v2 writes wrong prices.")

    assert output.strip() == "Rolled creative-generator back to v1 (v2 archived)."
    assert statuses() == {1: "production", 2: "archived"}
    assert RegistryEvent.objects.first().actor_label.startswith("manage.py:")


def test_rollback_command_to_a_chosen_version(versions, operator_user):
    third = model_version_with_artifact(version=3)
    for version in [*versions, third]:
        model_version_promote(version=version, actor=operator_user, reason="Promote.")

    output = run("rollback", "--to", "1", "--reason", "Back to the first.", "--actor", "operator")

    assert output.strip() == "Rolled creative-generator back to v1 (v3 archived)."
    with pytest.raises(CommandError, match="^creative-generator has no version 9.$"):
        run("rollback", "--to", "9", "--reason", "Nope.")
    assert statuses() == {1: "production", 2: "archived", 3: "archived"}


def test_rollback_command_with_nowhere_to_go():
    with pytest.raises(
        CommandError, match="^There is no earlier production version of creative-generator to roll"
    ):
        run("rollback", "--reason", "Undo.")


def test_registry_status_shows_production_candidates_and_events(versions, operator_user):
    model_version_promote(version=versions[0], actor=operator_user, reason="First model.")

    output = run("registry_status")

    assert "creative-generator: production" in output
    assert "  v1  rouge_l 0.400  since " in output and " by operator " in output
    assert "creative-generator: candidates awaiting approval (1)" in output
    assert "  v2  rouge_l 0.400" in output
    assert "      gate: No production version yet" in output
    assert "creative-generator: last 10 events" in output
    assert "promote" in output and "First model." in output


def test_registry_status_of_an_empty_registry():
    output = run("registry_status")

    assert "none: no version has been promoted yet" in output
    assert "creative-generator: candidates awaiting approval (0)" in output


def test_a_command_error_exits_1_without_a_traceback(capsys):
    """The command-line path (run_from_argv), as the shell runs it: one line on stderr, exit status 1."""
    with pytest.raises(SystemExit) as exit_status:
        execute_from_command_line(["manage.py", "promote", "4", "--reason", "Try."])

    captured = capsys.readouterr()
    assert exit_status.value.code == 1
    assert captured.err.strip() == "CommandError: creative-generator has no version 4."
    assert "Traceback" not in captured.err
