"""PostgreSQL advisory locks with one key formula (creativeops.core.locks)."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connections, transaction

from creativeops.core.locks import advisory_lock, advisory_xact_lock, lock_key


def test_the_key_is_the_first_eight_bytes_of_the_names_sha256_as_a_signed_bigint():
    digest = hashlib.sha256(b"creativeops.training").digest()

    assert lock_key("creativeops.training") == int.from_bytes(digest[:8], "big", signed=True)
    assert -(2**63) <= lock_key("products.DatasetVersion.number") < 2**63
    assert lock_key("creativeops.registry:numbering:a") != lock_key("creativeops.registry:numbering:b")


def _taken_elsewhere(name: str) -> bool:
    """Whether another database session is refused the lock right now."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)])
            acquired = cursor.fetchone()[0]
            if acquired:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])
            return not acquired
    finally:
        other.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transaction_lock_is_held_until_commit(on_postgres):
    with transaction.atomic():
        assert advisory_xact_lock("tests.xact") is True
        assert _taken_elsewhere("tests.xact")
    assert not _taken_elsewhere("tests.xact")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_session_lock_is_held_for_the_block_and_refused_to_a_second_holder(on_postgres):
    with advisory_lock("tests.session") as held:
        assert held is True
        assert _taken_elsewhere("tests.session")
    assert not _taken_elsewhere("tests.session")
