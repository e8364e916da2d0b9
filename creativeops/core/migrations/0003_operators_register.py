from django.db import migrations


def sync_roles(apps, schema_editor):
    from creativeops.core.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_operators_cancel_training"),
        ("registry", "0003_register_permission"),
        ("monitoring", "0002_schedule_and_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
