"""The drift check's beat entry under its new task name, and the roles' permissions on drift reports.

An install from before this app has the entry with the task's old name
(`inference.tasks.drift_report_task`): it is renamed in place, so an operator's edits (time, enabled)
are kept. A fresh install gets the entry from `creativeops.monitoring.schedule`.
"""

from django.db import migrations


def install_schedule(apps, schema_editor):
    from creativeops.core.schedule import install_periodic_tasks
    from creativeops.monitoring.schedule import DRIFT_REPORT_TASK, FORMER_TASK_NAMES, PERIODIC_TASKS

    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(task__in=FORMER_TASK_NAMES).update(task=DRIFT_REPORT_TASK)
    install_periodic_tasks(apps, PERIODIC_TASKS)


def restore_task_name(apps, schema_editor):
    from creativeops.monitoring.schedule import DRIFT_REPORT_TASK, FORMER_TASK_NAMES

    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(task=DRIFT_REPORT_TASK).update(task=FORMER_TASK_NAMES[0])


def sync_roles(apps, schema_editor):
    from creativeops.core.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_move_driftreport"),
        ("inference", "0003_driftreport_moves_to_monitoring"),
        ("pipeline", "0003_periodic_tasks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(install_schedule, restore_task_name),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
