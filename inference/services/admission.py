"""Keeping single predictions from starving behind batches, per web process.

A batch_predict call holds the model for as long as its rows × variants × tokens take (bounded per
request by PREDICT_MAX_BATCH_TOKENS, checked by the API before anything runs); one predict waits for
the model while it runs. Two rules keep that wait at one bounded batch at most:

* At most PREDICT_BATCH_CONCURRENCY (default 1) batch generations run at a time in a process. A batch
  that finds every slot taken is answered 503 at once, with Retry-After, instead of waiting: a waiting
  batch would hold a request thread (gunicorn runs 2 per process), and a single prediction arriving
  then would find no thread to run on at all.
* Single predictions take no slot, so the process's other thread always serves them; they wait for
  the model only behind the one batch now running, never behind a queue of batches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from creativeops.core.errors import ApplicationError

BATCH_RETRY_AFTER_SECONDS = 1

_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _batch_slots() -> threading.BoundedSemaphore:
    """The process's semaphore, rebuilt if the setting changed (tests and operators may change it)."""
    global _slots
    size = max(1, int(settings.CREATIVEOPS["PREDICT_BATCH_CONCURRENCY"]))
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


@contextmanager
def batch_generation_slot() -> Iterator[None]:
    """Hold one of the process's batch slots for the block, or refuse at once with a 503."""
    slots = _batch_slots()
    if not slots.acquire(blocking=False):
        size = int(settings.CREATIVEOPS["PREDICT_BATCH_CONCURRENCY"])
        raise ApplicationError(
            f"This server is already generating {size} batch{'es' if size != 1 else ''} (the limit per "
            f"process, PREDICT_BATCH_CONCURRENCY); retry in {BATCH_RETRY_AFTER_SECONDS} s.",
            status_code=503,
            extra={"wait": BATCH_RETRY_AFTER_SECONDS},
        )
    try:
        yield
    finally:
        slots.release()
