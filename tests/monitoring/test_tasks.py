from __future__ import annotations

import sys

import pytest

from creativeops.celery import app
from creativeops.monitoring.models import DriftReport
from creativeops.monitoring.schedule import DRIFT_REPORT, PERIODIC_TASKS
from creativeops.monitoring.tasks import drift_report as drift_report_task
from tests.factories.monitoring import prediction_logs_make, shifted_inputs

pytestmark = pytest.mark.django_db


def test_the_beat_entry_names_the_registered_task():
    task_name, schedule, _kwargs = PERIODIC_TASKS[DRIFT_REPORT]
    assert task_name == drift_report_task.name == "creativeops.monitoring.tasks.drift_report"
    assert schedule == {"crontab": ("15", "*")}
    assert app.tasks[task_name].name == task_name


# The re-import registers the same function again, which Celery notes once.
@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_a_worker_imports_the_task_module(monkeypatch):
    """The package is not an app: only the explicit autodiscovery in creativeops/celery.py finds it."""
    monkeypatch.delitem(sys.modules, "creativeops.monitoring.tasks")

    app.loader.import_default_modules()  # what a worker does at start

    assert "creativeops.monitoring.tasks" in sys.modules


def test_the_task_writes_a_report(baseline):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(60, category="toys"))

    report_id = drift_report_task.delay().get()

    report = DriftReport.objects.get()
    assert report_id == report.pk
    assert report.drifted is True and report.sample_size == 60


def test_the_task_without_a_production_model_writes_nothing(db):
    assert drift_report_task.delay(window_hours=6).get() is None
    assert DriftReport.objects.count() == 0
