from django.db import migrations


def install(apps, schema_editor):
    from creativeops.core.schedule import install_periodic_tasks
    from creativeops.pipeline.schedule import PERIODIC_TASKS

    install_periodic_tasks(apps, PERIODIC_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0002_pipelinerun_pipeline_one_active_run_per_model"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
