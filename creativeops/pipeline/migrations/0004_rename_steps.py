"""The steps `evaluate` and `register` are now `verify_artifact` and `score_and_register`, names that
say what they do. Stored runs keep their history under the new names (the `steps` JSON keys and
`current_step`), so the admin, the API and the progress bar read old and new runs alike; the
installed nightly beat entry takes the new name (its schedule and kwargs, maybe edited by an
operator, are kept).

A chain in flight while this deploys still names the old step tasks; a new worker does not know
them, so that run stops where it was and the reaper fails it when its lease runs out.
"""

from django.db import migrations, models

from creativeops.pipeline.schedule import NIGHTLY_PIPELINE, NIGHTLY_PIPELINE_BEFORE_0004

RENAMED = {"evaluate": "verify_artifact", "register": "score_and_register"}


def _rename_steps(apps, renames: dict[str, str], entry_names: tuple[str, str]) -> None:
    pipeline_run = apps.get_model("pipeline", "PipelineRun")
    for run in pipeline_run.objects.iterator():
        steps = {renames.get(step, step): state for step, state in (run.steps or {}).items()}
        current = renames.get(run.current_step, run.current_step)
        if steps != run.steps or current != run.current_step:
            pipeline_run.objects.filter(pk=run.pk).update(steps=steps, current_step=current)
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    old_name, new_name = entry_names
    if not periodic_task.objects.filter(name=new_name).exists():
        periodic_task.objects.filter(name=old_name).update(name=new_name)


def forwards(apps, schema_editor):
    _rename_steps(apps, RENAMED, (NIGHTLY_PIPELINE_BEFORE_0004, NIGHTLY_PIPELINE))


def backwards(apps, schema_editor):
    _rename_steps(
        apps, {new: old for old, new in RENAMED.items()}, (NIGHTLY_PIPELINE, NIGHTLY_PIPELINE_BEFORE_0004)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0003_periodic_tasks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterField(
            model_name="pipelinerun",
            name="current_step",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(forwards, backwards),
    ]
