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


@pytest.fixture
def before_the_move():
    """The database as an install from before the monitoring app had it; always migrated forward again,
    so a failing assertion never leaves the next tests on an old schema."""
    try:
        yield _migrate(BEFORE)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_reports_permissions_and_schedule_move_to_the_monitoring_app(before_the_move):
    old_apps = before_the_move
    old_report = old_apps.get_model("inference", "DriftReport")
    now = timezone.now()
    kept = old_report.objects.create(
        window_start=now, window_end=now, sample_size=321, psi={"price": 0.4}, max_psi=0.4, threshold=0.2
    )
    periodic_task = old_apps.get_model("django_celery_beat", "PeriodicTask")
    # As an old install has it (a transactional test before this one may have emptied the table).
    interval = old_apps.get_model("django_celery_beat", "IntervalSchedule").objects.create(
        every=3600, period="seconds"
    )
    periodic_task.objects.filter(name="Drift report (last 24 h of predictions)").delete()
    entry = periodic_task.objects.create(
        name="Drift report (last 24 h of predictions)",
        task="inference.tasks.drift_report_task",
        interval=interval,
        enabled=False,
    )
    # The role as that install had it: operators may view drift reports of the inference app.
    operators, _ = old_apps.get_model("auth", "Group").objects.get_or_create(name="operators")
    content_type, _ = old_apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="inference", model="driftreport"
    )
    view, _ = old_apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=content_type, codename="view_driftreport", defaults={"name": "Can view drift report"}
    )
    operators.permissions.add(view)

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
