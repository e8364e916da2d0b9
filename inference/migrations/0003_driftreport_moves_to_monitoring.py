"""DriftReport now belongs to the monitoring app (monitoring 0001 took over the table and renamed it)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0002_creativerefresh"),
        ("monitoring", "0001_move_driftreport"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="DriftReport")],
            database_operations=[],
        ),
    ]
