"""The audit trail is append-only: in Python (save, delete, QuerySet) and, on PostgreSQL, in the database."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from registry.models import AppendOnlyError, RegistryEvent
from registry.services import model_version_promote
from tests.factories.registry import model_version_with_artifact

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(operator_user):
    version = model_version_with_artifact(version=1)
    model_version_promote(version=version, actor=operator_user, reason="First model.")
    return RegistryEvent.objects.get()


def test_saving_an_existing_event_is_refused(event):
    event.reason = "Rewritten history."

    with pytest.raises(AppendOnlyError, match="an existing event cannot be changed"):
        event.save()

    assert RegistryEvent.objects.get().reason == "First model."


def test_saving_a_new_event_with_an_existing_primary_key_is_refused(event):
    forged = RegistryEvent(pk=event.pk, model_name=event.model_name, action="promote", reason="Forged.")

    with pytest.raises(AppendOnlyError):
        forged.save()

    assert RegistryEvent.objects.get().reason == "First model."


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        event.delete()

    assert RegistryEvent.objects.count() == 1


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(AppendOnlyError, match="cannot be updated"):
        RegistryEvent.objects.filter(pk=event.pk).update(reason="Rewritten.")
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        RegistryEvent.objects.all().delete()

    assert RegistryEvent.objects.get().reason == "First model."


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE registry_registryevent SET reason = 'Rewritten.'",
        "DELETE FROM registry_registryevent",
    ],
)
def test_raw_sql_cannot_change_events_on_postgres(on_postgres, event, statement):
    refused = pytest.raises(DatabaseError, match="registry_registryevent is append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert RegistryEvent.objects.get().reason == "First model."
