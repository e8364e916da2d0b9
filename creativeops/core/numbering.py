"""Numbering rows 1, 2, 3… without gaps or duplicates under concurrency: "next number, retry on
conflict".

The number is max + 1, read and inserted in one transaction that holds a transaction advisory lock
on the thing being numbered (`creativeops.core.locks`), so on PostgreSQL concurrent writers take
turns. SQLite has no advisory lock (it serialises writers, but two can still read the same max):
the unique constraint on the number is the backstop, and the loser's transaction is retried with a
fresh max, up to NUMBERING_ATTEMPTS times, before the caller gets a 409 to try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet

from creativeops.core.errors import ApplicationError
from creativeops.core.locks import advisory_xact_lock

logger = logging.getLogger(__name__)

NUMBERING_ATTEMPTS = 5
T = TypeVar("T")


def number_next(queryset: QuerySet, field: str) -> int:
    """The largest `field` in `queryset` plus one (1 for none): call under the numbering lock."""
    return (queryset.aggregate(last=Max(field))["last"] or 0) + 1


def numbered_create(
    *,
    lock_name: str,
    create: Callable[[], T],
    what: str,
    on_conflict: Callable[[], T | None] | None = None,
    attempts: int = NUMBERING_ATTEMPTS,
) -> T:
    """Run `create` (which numbers with `number_next` and inserts) in a transaction holding the
    `lock_name` lock; retry on a unique-constraint conflict.

    After a conflict, `on_conflict` may return what a concurrent writer already made for the same
    request (then that is returned, not retried). `what` names the row in the 409 message.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                advisory_xact_lock(lock_name)
                return create()
        except IntegrityError:
            found = on_conflict() if on_conflict else None
            if found is not None:
                return found
            logger.warning("The number of %s was taken by a concurrent writer (attempt %d)", what, attempt)
    raise ApplicationError(
        f"Could not number {what} after {attempts} attempts: concurrent writers kept taking the next "
        "number. Try again.",
        status_code=409,
    )
