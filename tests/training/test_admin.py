"""The training-run admin: list with progress, read-only detail with metrics and SVG loss curves, cancel."""

from __future__ import annotations

import math
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories.training import TrainingRunFactory
from tests.factories.users import TEST_PASSWORD, make_user
from training.charts import line_chart_svg
from training.models import TrainingRun

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:training_trainingrun_changelist"


def _login(client, user):
    # A real login request: the login lockout (django-axes) needs the request that
    # Client.login() does not pass to authenticate().
    response = client.post("/accounts/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def operator_client(client, operator_user):
    return _login(client, operator_user)


@pytest.fixture
def cancelling_operator(operator_user):
    operator_user.user_permissions.add(
        Permission.objects.get(content_type__app_label="training", codename="change_trainingrun")
    )
    return operator_user


def test_changelist_shows_status_progress_metric_and_duration(operator_client):
    running = TrainingRunFactory(running=True)
    succeeded = TrainingRunFactory(succeeded=True)
    failed = TrainingRunFactory(failed=True)

    response = operator_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<span title="step 15 of 60" style="white-space:nowrap"><progress value="25.0" max="100"' in html
    assert "</progress> 25% · ETA 9 min 00 s</span>" in html
    assert '<progress value="100.0" max="100"' in html
    assert ">Running</span>" in html and ">Succeeded</span>" in html and ">Failed</span>" in html
    assert "0.4321" in html  # ROUGE-L of the succeeded run
    assert "12 min 05 s" in html  # its duration
    assert re.search(r"3 min 0\d s so far", html)  # the running one's
    assert f"v{running.dataset_version.number}" in html
    for training_run in (running, succeeded, failed):
        assert reverse("admin:training_trainingrun_change", args=[training_run.pk]) in html


def test_changelist_filters_by_status_preset_and_trigger(operator_client):
    TrainingRunFactory(succeeded=True, preset="small", trigger=TrainingRun.Trigger.SCHEDULE)
    TrainingRunFactory(failed=True)

    response = operator_client.get(
        reverse(CHANGELIST), {"status": "succeeded", "preset": "small", "trigger": "schedule"}
    )

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert list(response.context["cl"].result_list)[0].status == TrainingRun.Status.SUCCEEDED


def test_detail_page_shows_metrics_loss_curves_mlflow_and_configuration(operator_client):
    training_run = TrainingRunFactory(succeeded=True)

    response = operator_client.get(reverse("admin:training_trainingrun_change", args=[training_run.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="line-chart"' in html
    assert f"Training run #{training_run.pk}: loss per epoch" in html
    assert html.count("<polyline ") == 2  # train and validation loss
    assert ">train loss</text>" in html and ">validation loss</text>" in html
    assert "<th>rouge_l</th><td>0.4321</td><td>0.3012</td>" in html  # model vs copy-the-title baseline
    assert "<th>tokens_per_second</th>" in html
    assert training_run.mlflow_run_id in html
    assert training_run.artifact_sha256 in html
    assert "<th>learning_rate</th>" in html  # hyperparameters
    assert 'http-equiv="refresh"' not in html  # a finished run does not reload itself
    assert 'name="_save"' not in html  # read-only
    assert "Cancel run" not in html


def test_detail_page_of_a_failed_run_shows_the_escaped_error(operator_client):
    training_run = TrainingRunFactory(failed=True)

    html = operator_client.get(
        reverse("admin:training_trainingrun_change", args=[training_run.pk])
    ).content.decode()

    assert "RuntimeError: out of memory &lt;while allocating&gt;" in html
    assert "No data yet" in html  # no epochs, an empty chart rather than a broken one


def test_detail_page_of_a_running_run_refreshes_and_offers_cancel_to_those_allowed(
    client, cancelling_operator
):
    training_run = TrainingRunFactory(running=True)
    _login(client, cancelling_operator)

    html = client.get(reverse("admin:training_trainingrun_change", args=[training_run.pk])).content.decode()

    assert '<meta http-equiv="refresh" content="5">' in html
    assert '<input type="hidden" name="action" value="cancel_runs">' in html
    assert f'<input type="hidden" name="_selected_action" value="{training_run.pk}">' in html


def test_cancel_action_asks_for_confirmation_then_cancels_through_the_service(client, cancelling_operator):
    running = TrainingRunFactory(running=True)
    queued = TrainingRunFactory()
    finished = TrainingRunFactory(succeeded=True)
    _login(client, cancelling_operator)
    selection = {"action": "cancel_runs", "_selected_action": [running.pk, queued.pk, finished.pk]}

    confirmation = client.post(reverse(CHANGELIST), selection)

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "Cancel training runs?" in page
    assert f"Training run #{running.pk}: running" in page and f"Training run #{queued.pk}: queued" in page
    assert f"Training run #{finished.pk}" not in page
    assert "1 other selected run already finished" in page
    running.refresh_from_db()
    assert running.status == TrainingRun.Status.RUNNING  # nothing changed before confirming

    done = client.post(
        reverse(CHANGELIST),
        {"action": "cancel_runs", "_selected_action": [running.pk, queued.pk], "confirm": "yes"},
        follow=True,
    )

    assert done.status_code == 200
    messages = [str(message) for message in done.context["messages"]]
    assert messages == [
        f"Cancelled 2 run(s): #{queued.pk}, #{running.pk}. A running one stops at its next training step."
    ] or messages == [
        f"Cancelled 2 run(s): #{running.pk}, #{queued.pk}. A running one stops at its next training step."
    ]
    for training_run in (running, queued):
        training_run.refresh_from_db()
        assert training_run.status == TrainingRun.Status.CANCELLED
        assert training_run.error.startswith("Cancelled by operator at ")
    finished.refresh_from_db()
    assert finished.status == TrainingRun.Status.SUCCEEDED


def test_staff_without_the_change_permission_cannot_cancel(client):
    viewer = make_user("viewer")
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="training", codename="view_trainingrun")
    )
    operator_client = _login(client, viewer)
    running = TrainingRunFactory(running=True)

    changelist = operator_client.get(reverse(CHANGELIST))
    detail = operator_client.get(
        reverse("admin:training_trainingrun_change", args=[running.pk])
    ).content.decode()
    attempt = operator_client.post(
        reverse(CHANGELIST), {"action": "cancel_runs", "_selected_action": [running.pk], "confirm": "yes"}
    )

    assert changelist.context["action_form"] is None  # no action this user may run
    assert 'value="cancel_runs"' not in detail
    assert attempt.status_code in (200, 302)
    running.refresh_from_db()
    assert running.status == TrainingRun.Status.RUNNING


def test_runs_cannot_be_added_or_deleted_in_the_admin(client):
    superuser = make_user("root", is_superuser=True)
    _login(client, superuser)
    training_run = TrainingRunFactory(succeeded=True)

    assert client.get(reverse("admin:training_trainingrun_add")).status_code == 403
    assert client.get(reverse("admin:training_trainingrun_delete", args=[training_run.pk])).status_code == 403
    changelist = client.get(reverse(CHANGELIST))
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
    assert "cancel_runs" in dict(changelist.context["action_form"].fields["action"].choices)


def test_marketers_cannot_see_training_runs(client, marketer_user):
    _login(client, marketer_user)
    response = client.get(reverse(CHANGELIST))
    # Marketers are not staff: the admin sends them to its login page.
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --------------------------------------------------------------------------------------------
# training.charts.line_chart_svg
# --------------------------------------------------------------------------------------------


def test_line_chart_escapes_text_and_draws_one_line_per_series():
    svg = line_chart_svg(
        {"<b>loss</b>": [3.0, 2.0, 1.5], "val & test": [3.5, 2.5, 2.0]},
        width=400,
        height=200,
        title='x"<script>',
    )

    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.endswith("</svg>")
    assert "<script>" not in svg and "x&quot;&lt;script&gt;" in svg
    assert "&lt;b&gt;loss&lt;/b&gt;" in svg and "val &amp; test" in svg
    assert svg.count("<polyline ") == 2
    assert svg.count("<circle ") == 6
    assert 'width="400" height="200"' in svg


def test_line_chart_breaks_lines_at_missing_values_and_handles_flat_or_empty_data():
    broken = line_chart_svg({"loss": [1.0, 2.0, None, 3.0, math.nan, 4.0, 5.0]}, 300, 150, "gaps")
    assert broken.count("<polyline ") == 2  # [1, 2] and [4, 5]; the lone 3 is a point
    assert broken.count("<circle ") == 5

    flat = line_chart_svg({"loss": [2.0, 2.0]}, 300, 150, "flat")
    assert flat.count("<polyline ") == 1 and "NaN" not in flat and "nan" not in flat

    single = line_chart_svg({"loss": [0.7]}, 300, 150, "one epoch")
    assert single.count("<circle ") == 1 and "<polyline " not in single

    empty = line_chart_svg({"loss": [], "val": [None]}, 300, 150, "empty")
    assert "No data yet" in empty and "<polyline " not in empty


def test_search_by_id_or_mlflow_run_never_errors(operator_client):
    training_run = TrainingRunFactory(succeeded=True)

    by_id = operator_client.get(reverse(CHANGELIST), {"q": str(training_run.pk)})
    by_text = operator_client.get(reverse(CHANGELIST), {"q": "not-a-number"})
    by_mlflow = operator_client.get(reverse(CHANGELIST), {"q": training_run.mlflow_run_id})

    assert by_id.status_code == by_text.status_code == by_mlflow.status_code == 200
    assert by_id.context["cl"].result_count == 1
    assert by_text.context["cl"].result_count == 0
    assert by_mlflow.context["cl"].result_count == 1
