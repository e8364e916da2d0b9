"""Per-model-name transaction locks: registration numbering and production changes are serialised.

PostgreSQL: a transaction-scoped advisory lock keyed by a *stable* 64-bit hash of the purpose and
the name (Python's `hash()` differs between processes, so it cannot be used). It is released at
commit or rollback. SQLite has no such lock; it serialises writers on the whole database, and the
unique constraints remain the backstop on both.
"""

from __future__ import annotations

import hashlib

from django.db import connection

NUMBERING = "numbering"
PRODUCTION = "production"


def advisory_key(purpose: str, name: str) -> int:
    digest = hashlib.sha256(f"creativeops.registry:{purpose}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_model_name(name: str, purpose: str) -> None:
    """Block until this transaction holds the `purpose` lock for `name` (call inside atomic())."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key(purpose, name)])
