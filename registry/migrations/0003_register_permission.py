from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_registryevent_append_only")]

    operations = [
        migrations.AlterModelOptions(
            name="modelversion",
            options={
                "ordering": ["name", "-version"],
                "permissions": [
                    ("promote_modelversion", "Can approve and promote a model version"),
                    ("rollback_modelversion", "Can roll back to a model version"),
                    ("reject_modelversion", "Can reject a model version"),
                    ("archive_modelversion", "Can archive a model version"),
                    ("override_gate_modelversion", "Can promote a version the gate rejected"),
                    ("register_modelversion", "Can evaluate and register a training run (the gate)"),
                ],
            },
        ),
    ]
