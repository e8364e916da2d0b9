from django.db import migrations


def sync_roles(apps, schema_editor):
    from creativeops.core.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """Operators see login lockouts (django-axes) in the admin and may unlock them."""

    dependencies = [("core", "0003_operators_register"), ("axes", "0010_accessattemptexpiration")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
