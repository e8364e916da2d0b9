"""RegistryEvent is append-only in the database itself: a trigger refuses UPDATE and DELETE.

The model's save()/delete() and its QuerySet refuse too, but only the trigger also stops raw SQL,
another client, or a future bulk operation. PostgreSQL only; SQLite (the laptop default) relies on
the Python guards.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION registry_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'registry_registryevent is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS registry_event_append_only ON registry_registryevent;
CREATE TRIGGER registry_event_append_only
    BEFORE UPDATE OR DELETE ON registry_registryevent
    FOR EACH ROW EXECUTE FUNCTION registry_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS registry_event_append_only ON registry_registryevent;
DROP FUNCTION IF EXISTS registry_event_append_only();
"""


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # No parameters: the '%' in RAISE's format string must reach PostgreSQL as is.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def create_trigger(apps, schema_editor):
    _run(schema_editor, CREATE)


def drop_trigger(apps, schema_editor):
    _run(schema_editor, DROP)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
