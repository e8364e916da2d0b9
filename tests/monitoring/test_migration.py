"""Drift reports written before monitoring became an app survive the move, with their permissions and
the beat entry (renamed task, operator's edits kept)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("monitoring", None), ("inference", "0002_creativerefresh")]


def _migrate(targets):
    """Migrate the test database to `targets`; the models as they are there."""
    MigrationExecutor(connection).migrate(targets)
    return MigrationExecutor(connection)._create_project_state(with_applied_migrations=True).apps


def test_reports_permissions_and_schedule_move_to_the_monitoring_app():
    old_apps = _migrate(BEFORE)
    old_report = old_apps.get_model("inference", "DriftReport")
    now = timezone.now()
    kept = old_report.objects.create(
        window_start=now, window_end=now, sample_size=321, psi={"price": 0.4}, max_psi=0.4, threshold=0.2
    )
    periodic_task = old_apps.get_model("django_celery_beat", "PeriodicTask")
    entry = periodic_task.objects.get(name="Drift report (last 24 h of predictions)")
    entry.task, entry.enabled = "inference.tasks.drift_report_task", False  # as an old install has it
    entry.save()
    operators = old_apps.get_model("auth", "Group").objects.get(name="operators")
    assert operators.permissions.filter(
        content_type__app_label="inference", codename="view_driftreport"
    ).exists()

    new_apps = _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    report = new_apps.get_model("monitoring", "DriftReport").objects.get(pk=kept.pk)
    assert (report.sample_size, report.psi, report.max_psi) == (321, {"price": 0.4}, 0.4)
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert "monitoring_driftreport" in tables and "inference_driftreport" not in tables
    entry = new_apps.get_model("django_celery_beat", "PeriodicTask").objects.get(pk=entry.pk)
    assert (entry.task, entry.enabled) == ("creativeops.monitoring.tasks.drift_report", False)
    operators = new_apps.get_model("auth", "Group").objects.get(name="operators")
    assert operators.permissions.filter(
        content_type__app_label="monitoring", codename="view_driftreport"
    ).exists()
    content_type = new_apps.get_model("contenttypes", "ContentType")
    assert not content_type.objects.filter(app_label="inference", model="driftreport").exists()
