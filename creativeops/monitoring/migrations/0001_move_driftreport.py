"""DriftReport moves from the inference app to monitoring without losing a row.

The model is re-declared here over the existing table (state only), then the table is renamed to
`monitoring_driftreport`; inference 0003 drops the model from its own state. The content type is
relabelled rather than re-created, so the permissions that groups and users hold on drift reports
(and admin log entries) follow the model.
"""

import django.db.models.deletion
from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    old = content_type.objects.filter(app_label="inference", model="driftreport")
    if content_type.objects.filter(app_label="monitoring", model="driftreport").exists():
        old.delete()
    else:
        old.update(app_label="monitoring")


def restore_content_type(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="monitoring", model="driftreport").update(app_label="inference")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("core", "0002_operators_cancel_training"),
        ("products", "0001_initial"),
        ("registry", "0002_registryevent_append_only"),
        ("inference", "0002_creativerefresh"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DriftReport",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("window_start", models.DateTimeField()),
                        ("window_end", models.DateTimeField()),
                        ("sample_size", models.PositiveIntegerField()),
                        (
                            "psi",
                            models.JSONField(default=dict, help_text="Population stability index per feature."),
                        ),
                        (
                            "details",
                            models.JSONField(
                                default=dict, help_text="Expected and observed bucket shares per feature."
                            ),
                        ),
                        ("max_psi", models.FloatField(null=True)),
                        ("threshold", models.FloatField()),
                        ("drifted", models.BooleanField(default=False)),
                        ("triggered_pipeline", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "dataset_version",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="products.datasetversion",
                            ),
                        ),
                        (
                            "model_version",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="registry.modelversion",
                            ),
                        ),
                    ],
                    options={"ordering": ["-created_at"], "db_table": "inference_driftreport"},
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="driftreport", table=None),
        migrations.RunPython(relabel_content_type, restore_content_type),
    ]
