"""Champion vs challenger experiments: start, stop, status, audit events, one running per model."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from creativeops.core.errors import ApplicationError
from registry.models import Experiment, ModelVersion, RegistryEvent
from registry.selectors import running_experiment as experiment_running
from registry.services import experiment_start, experiment_stop, model_version_promote
from tests.factories.registry import model_version_with_artifact
from tests.factories.users import make_user
from tests.registry.test_concurrency import run_in_parallel

NAME = "creative-generator"
Action = RegistryEvent.Action


@pytest.fixture
def production_and_candidates(operator_user):
    v1, v2, v3 = (model_version_with_artifact(version=number) for number in (1, 2, 3))
    model_version_promote(version=v1, actor=operator_user, reason="First model.")
    return v1, v2, v3


def experiment_events() -> list[RegistryEvent]:
    actions = (Action.EXPERIMENT_START, Action.EXPERIMENT_STOP, Action.EXPERIMENT_END)
    return list(RegistryEvent.objects.filter(action__in=actions).order_by("created_at", "id"))


@pytest.mark.django_db
def test_start_then_stop_writes_the_experiment_and_its_events(production_and_candidates, operator_user):
    v1, v2, _v3 = production_and_candidates

    started = experiment_start(version=v2, mode="shadow", percent=10, reason="Try v2.", actor=operator_user)

    assert experiment_running(NAME) == started
    assert (started.challenger, started.champion, started.mode, started.percent) == (v2, v1, "shadow", 10)
    assert started.status == Experiment.Status.RUNNING and started.started_by_label == "operator"

    stopped = experiment_stop(name=NAME, reason="Enough data.", actor=operator_user)

    stopped.refresh_from_db()
    assert stopped.status == Experiment.Status.STOPPED and stopped.stop_reason == "Enough data."
    assert stopped.stopped_at is not None and stopped.stopped_by == operator_user
    assert experiment_running(NAME) is None
    start_event, stop_event = experiment_events()
    assert (start_event.action, start_event.from_version, start_event.to_version) == (
        Action.EXPERIMENT_START,
        v1,
        v2,
    )
    assert start_event.reason == "Try v2." and start_event.actor_label == "operator"
    assert start_event.metrics_snapshot["experiment"]["mode"] == "shadow"
    assert (stop_event.action, stop_event.reason) == (Action.EXPERIMENT_STOP, "Enough data.")
    assert ModelVersion.objects.production().get() == v1  # production unchanged


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "percent", "limit"), [("canary", 51, 50), ("shadow", 101, 100), ("shadow", 0, 100)]
)
def test_percent_out_of_range_is_refused_naming_the_field_and_limit(
    production_and_candidates, operator_user, mode, percent, limit
):
    _v1, v2, _v3 = production_and_candidates

    with pytest.raises(ApplicationError) as refused:
        experiment_start(version=v2, mode=mode, percent=percent, reason="Try.", actor=operator_user)

    assert refused.value.field == "percent"
    assert refused.value.message == (
        f"percent must be a whole number from 1 to {limit} for a {mode} experiment (got {percent})."
    )
    assert not Experiment.objects.exists() and not experiment_events()


@pytest.mark.django_db
def test_challenger_must_be_a_candidate_and_production_must_exist(operator_user):
    lone = model_version_with_artifact(version=1)
    with pytest.raises(ApplicationError, match="has no production version to compare with"):
        experiment_start(version=lone, mode="shadow", percent=10, reason="Try.", actor=operator_user)
    model_version_promote(version=lone, actor=operator_user, reason="First.")
    with pytest.raises(ApplicationError, match="is the production version"):
        experiment_start(version=lone, mode="shadow", percent=10, reason="Try.", actor=operator_user)


@pytest.mark.django_db
def test_a_second_start_names_the_running_experiment(production_and_candidates, operator_user):
    _v1, v2, v3 = production_and_candidates
    first = experiment_start(version=v2, mode="canary", percent=5, reason="Try v2.", actor=operator_user)

    with pytest.raises(ApplicationError) as refused:
        experiment_start(version=v3, mode="shadow", percent=10, reason="Try v3.", actor=operator_user)

    assert refused.value.status_code == 409
    assert f"An experiment is already running for {NAME}: #{first.pk}, v2 against v1 in canary at 5%" in (
        refused.value.message
    )
    assert list(Experiment.objects.running()) == [first]


@pytest.mark.django_db
def test_promoting_the_challenger_ends_the_experiment_as_promoted(production_and_candidates, operator_user):
    _v1, v2, _v3 = production_and_candidates
    experiment = experiment_start(
        version=v2, mode="shadow", percent=10, reason="Try v2.", actor=operator_user
    )

    model_version_promote(version=v2, actor=operator_user, reason="v2 wins live.")

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.PROMOTED
    assert experiment.stop_reason == f"{NAME} v2 went to production (promoted): v2 wins live."
    end_event = experiment_events()[-1]
    assert (end_event.action, end_event.to_version, end_event.actor) == (
        Action.EXPERIMENT_END,
        v2,
        operator_user,
    )


@pytest.mark.django_db
def test_promoting_another_version_stops_the_experiment(production_and_candidates, operator_user):
    _v1, v2, v3 = production_and_candidates
    experiment = experiment_start(
        version=v2, mode="shadow", percent=10, reason="Try v2.", actor=operator_user
    )

    model_version_promote(version=v3, actor=operator_user, reason="v3 instead.")

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED


@pytest.mark.django_db
def test_the_command_starts_shows_and_stops(production_and_candidates, capsys):
    call_command("experiment", "start", "2", "--mode", "canary", "--percent", "20", "--reason", "Try v2.")
    assert "Started experiment #" in capsys.readouterr().out

    call_command("experiment", "status")
    out = capsys.readouterr().out
    assert "v2 against v1 in canary at 20%" in out and "running" in out

    with pytest.raises(CommandError, match="percent must be a whole number from 1 to 50"):
        call_command("experiment", "start", "3", "--mode", "canary", "--percent", "60", "--reason", "Try.")

    call_command("experiment", "stop", "--reason", "Done.")
    assert "Stopped experiment" in capsys.readouterr().out
    call_command("experiment", "status")
    assert f"{NAME}: running experiment\n  none" in capsys.readouterr().out
    assert experiment_events()[0].actor_label.startswith("manage.py:")


@pytest.mark.django_db
def test_admin_start_needs_the_permission_and_confirms(client, production_and_candidates, operator_user):
    _v1, v2, _v3 = production_and_candidates
    changelist = reverse("admin:registry_modelversion_changelist")
    viewer = make_user("viewer")
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_modelversion"))
    client.force_login(viewer)
    assert 'value="start_experiment_action"' not in client.get(changelist).content.decode()
    with pytest.raises(ApplicationError, match="does not have permission to start experiments"):
        experiment_start(version=v2, mode="shadow", percent=10, reason="Try.", actor=viewer)

    client.force_login(operator_user)
    assert 'value="start_experiment_action"' in client.get(changelist).content.decode()
    selection = {"action": "start_experiment_action", "_selected_action": [v2.pk]}
    page = client.post(changelist, selection)
    assert page.status_code == 200 and "Yes, start the experiment" in page.content.decode()
    assert not Experiment.objects.exists()

    done = client.post(
        changelist, {**selection, "confirm": "yes", "mode": "canary", "percent": "5", "reason": "Live."}
    )

    assert done.status_code == 302
    experiment = Experiment.objects.get()
    assert (experiment.mode, experiment.percent, experiment.started_by) == ("canary", 5, operator_user)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.postgres
def test_two_parallel_starts_leave_exactly_one_running(on_postgres, production_and_candidates, operator_user):
    _v1, v2, v3 = production_and_candidates

    def start(version):
        return lambda: experiment_start(
            version=version, mode="shadow", percent=10, reason=f"Try v{version.version}.", actor=operator_user
        )

    results = run_in_parallel({"v2": start(v2), "v3": start(v3)})

    winners = [result for result in results.values() if isinstance(result, Experiment)]
    losers = [result for result in results.values() if isinstance(result, ApplicationError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].status_code == 409 and "An experiment is already running" in losers[0].message
    assert list(Experiment.objects.running()) == winners
    assert len(experiment_events()) == 1
