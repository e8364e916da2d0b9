from django.db import migrations


def sync_roles(apps, schema_editor):
    from creativeops.core.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """Operators may cancel training runs (training.change_trainingrun)."""

    dependencies = [("core", "0001_roles")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
