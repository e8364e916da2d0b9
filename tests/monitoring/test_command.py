from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from creativeops.monitoring.models import DriftReport
from tests.factories.monitoring import inputs_of_products, prediction_logs_make, shifted_inputs

pytestmark = pytest.mark.django_db


def test_the_command_prints_the_psi_table(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(60, category="toys"))
    out = StringIO()

    call_command("drift_report", stdout=out)

    report = DriftReport.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"Drift report #{report.pk}: {baseline.name} v1 against dataset version v")
    assert lines[1] == (
        "Unlike the training data: 0 of 60 predictions (unseen category 0, brand 0, vocabulary 0)"
    )
    assert lines[2].split() == ["feature", "PSI", "inputs", "status"]
    assert lines[4].split()[:2] == ["Price", f"{report.psi['price']:.4f}"]
    assert lines[4].endswith("ABOVE threshold")
    assert f"max PSI {report.max_psi:.4f}, threshold 0.2: DRIFTED" in out.getvalue()


def test_the_command_says_when_there_are_too_few_predictions(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog[:10]))
    out = StringIO()

    call_command("drift_report", "--window-hours", "2", stdout=out)

    assert "Not enough predictions: 10 in the window" in out.getvalue()
    assert "no PSI computed, threshold 0.2" in out.getvalue()


def test_the_command_without_a_production_model_fails_clearly(db):
    with pytest.raises(CommandError) as error:
        call_command("drift_report", stdout=StringIO())
    assert str(error.value) == "No model version is in production: there is no training data to compare with."


@pytest.mark.parametrize("hours", ["0", "-1", "2161"])
def test_the_command_refuses_a_bad_window(db, hours):
    with pytest.raises(CommandError) as error:
        call_command("drift_report", "--window-hours", hours, stdout=StringIO())
    assert str(error.value) == f"--window-hours must be more than 0 and at most 2160; got {float(hours):g}."
