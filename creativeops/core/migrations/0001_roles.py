from django.db import migrations


def create_roles(apps, schema_editor):
    from creativeops.core.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("products", "0001_initial"),
        ("training", "0001_initial"),
        ("registry", "0001_initial"),
        ("inference", "0001_initial"),
        ("pipeline", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
