"""Database-level mutual exclusion: PostgreSQL session advisory locks.

Why an advisory lock and not a flag row: the lock belongs to the database session of the process
that holds it, so when that process dies (OOM kill, node lost, hard time limit) PostgreSQL releases
it at once; there is no stale lock for anyone to clean up. Session level (not transaction level)
because a training lasts hours and must not keep a transaction open.

On other databases (SQLite on a laptop) there are no advisory locks: `advisory_lock` yields None
and the caller falls back to a lease (see `training.services.execution`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator

from django.db import connection

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def advisory_locks_supported() -> bool:
    return connection.vendor == "postgresql"


def _try_lock(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _unlock(key: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    except Exception:
        # The session is gone (connection dropped); PostgreSQL released the lock with it.
        logger.warning("Could not release advisory lock %s; its session ended, which released it", key)


@contextlib.contextmanager
def advisory_lock(
    name: str, *, wait_seconds: float = 0.0, poll_seconds: float = POLL_SECONDS
) -> Iterator[bool | None]:
    """Hold the named session advisory lock for the block.

    Yields True when held, False when another session still held it after `wait_seconds` (polled
    with pg_try_advisory_lock, never a blocking pg_advisory_lock that could hang a worker past its
    time limit), None on a database without advisory locks. Released in `finally`.
    """
    if not advisory_locks_supported():
        yield None
        return
    key = lock_key(name)
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    acquired = _try_lock(key)
    while not acquired and time.monotonic() < deadline:
        time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0.0)))
        acquired = _try_lock(key)
    try:
        yield acquired
    finally:
        if acquired:
            _unlock(key)
