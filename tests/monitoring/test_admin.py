from __future__ import annotations

import pytest
from django.urls import reverse

from creativeops.monitoring.services import drift_report_create
from tests.factories.monitoring import inputs_of_products, prediction_logs_make, shifted_inputs

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:monitoring_driftreport_changelist"
CHANGE = "admin:monitoring_driftreport_change"


@pytest.fixture
def reports(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog))
    stable = drift_report_create()
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(400, category="toys"))
    drifted = drift_report_create()
    return stable, drifted


def test_the_operator_sees_the_list_with_badges(client, operator_user, reports):
    client.force_login(operator_user)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    content = response.content.decode()
    assert ">drifted</span>" in content and ">stable</span>" in content
    assert f"{reports[1].max_psi:,.4f}" in content
    assert "Add drift report" not in content


def test_the_detail_page_has_the_psi_table_and_the_charts(client, operator_user, reports):
    client.force_login(operator_user)
    drifted = reports[1]

    response = client.get(reverse(CHANGE, args=[drifted.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    for label in ("Category", "Price", "Title length (characters)", "Description length (characters)"):
        assert f"<td>{label}</td>" in content
    assert content.count('<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart"') == 4
    assert f"Price — PSI {drifted.psi['price']:.4f}" in content
    assert ">above</span>" in content
    assert "Not in the training data: toys." in content
    assert "Not started: starting the pipeline on drift is off (setting DRIFT_TRIGGERS_PIPELINE)." in content


def test_a_report_without_psi_explains_why(client, operator_user, baseline):
    report = drift_report_create()
    client.force_login(operator_user)

    response = client.get(reverse(CHANGE, args=[report.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Not enough predictions: 0 in the window" in content
    assert "No PSI was computed for this report (see the note)." in content
    assert ">no PSI</span>" in content
    assert "Not needed: no PSI was computed." in content


def test_a_marketer_cannot_see_drift_reports(client, marketer_user, reports):
    client.force_login(marketer_user)

    response = client.get(reverse(CHANGELIST))
    # Marketers are not staff: the admin sends them to its login page.
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
