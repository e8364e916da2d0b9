"""PostgreSQL advisory locks, with one key formula.

Key formula: a lock is named by a dotted string, `<app>.<what>` with `:<model name>` where the lock
is per model name (`creativeops.training`, `products.DatasetVersion.number`,
`creativeops.registry:numbering:creative-generator`); its key is the first 8 bytes of the name's
SHA-256 read as a signed 64-bit integer, the bigint PostgreSQL takes. The same name gives the same
key in every process and on every machine (Python's `hash()` does not), so every writer of the same
thing contends for the same lock.

Two scopes:

* `advisory_lock`: a **session** lock, held across transactions for as long as a block runs (a
  training lasts hours and must not keep a transaction open). It belongs to the database session,
  so when the process dies (OOM kill, node lost, hard time limit) PostgreSQL releases it at once:
  there is never a stale lock to clean up. Taken with polled `pg_try_advisory_lock`, never a
  blocking call that could hang a worker past its time limit. Needs a direct connection or
  session pooling, not transaction pooling.
* `advisory_xact_lock`: a **transaction** lock, blocking, released at commit or rollback: for short
  critical sections such as "number the next version".

Other databases (SQLite on a laptop) have no advisory locks: `advisory_lock` yields None and
`advisory_xact_lock` returns False, and the caller relies on its own fallback (a lease on a row,
SQLite's single writer plus a unique constraint).
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
    """The advisory lock key of `name`: SHA-256, first 8 bytes, signed big-endian (a bigint)."""
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

    Yields True when held, False when another session still held it after `wait_seconds` (polled),
    None on a database without advisory locks. Released in `finally`.
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


def advisory_xact_lock(name: str) -> bool:
    """Block until the current transaction holds the named lock (call inside `atomic()`).

    True once held (released at commit or rollback); False on a database without advisory locks.
    """
    if not advisory_locks_supported():
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])
    return True
