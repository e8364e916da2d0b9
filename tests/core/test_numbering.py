"""Next number, retry on conflict (creativeops.core.numbering)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from creativeops.core.errors import ApplicationError
from creativeops.core.numbering import NUMBERING_ATTEMPTS, number_next, numbered_create
from products.models import DatasetVersion
from tests.factories.products import DatasetVersionFactory

pytestmark = pytest.mark.django_db


def test_the_next_number_is_one_more_than_the_largest():
    assert number_next(DatasetVersion.objects.all(), "number") == 1
    DatasetVersionFactory(number=7)
    DatasetVersionFactory(number=3)

    assert number_next(DatasetVersion.objects.all(), "number") == 8
    assert number_next(DatasetVersion.objects.filter(number__lt=5), "number") == 4


def test_a_conflict_is_retried_with_a_fresh_number():
    DatasetVersionFactory(number=1)
    attempts = []

    def create():
        attempts.append(number_next(DatasetVersion.objects.all(), "number"))
        if len(attempts) == 1:
            DatasetVersionFactory(number=attempts[0])  # a concurrent writer's row, in this transaction
            raise IntegrityError("duplicate key value violates unique constraint")
        return DatasetVersionFactory(number=attempts[-1])

    version = numbered_create(lock_name="tests.numbering", create=create, what="the dataset version")

    assert attempts == [2, 2]  # the first attempt's transaction was rolled back with its row
    assert version.number == 2


def test_what_a_concurrent_writer_made_for_the_same_request_is_returned():
    made = DatasetVersionFactory(number=5)

    def create():
        raise IntegrityError("duplicate")

    found = numbered_create(lock_name="tests.numbering", create=create, what="x", on_conflict=lambda: made)

    assert found == made


def test_conflicts_on_every_attempt_end_in_a_409_to_try_again():
    calls = []

    def create():
        calls.append(1)
        raise IntegrityError("duplicate")

    with pytest.raises(ApplicationError) as error:
        numbered_create(
            lock_name="tests.numbering", create=create, what="a new version of creative-generator"
        )

    assert len(calls) == NUMBERING_ATTEMPTS
    assert error.value.status_code == 409
    assert error.value.message == (
        f"Could not number a new version of creative-generator after {NUMBERING_ATTEMPTS} attempts: "
        "concurrent writers kept taking the next number. Try again."
    )
