"""A heartbeat thread: keeps a row's "I am alive" column fresh while its worker is busy elsewhere.

A worker proves it is alive by writing a timestamp (a training run's `heartbeat_at`, a pipeline
run's `lease_expires_at`); a reaper fails what stopped beating. Long phases that report no progress
(tokenizer training, evaluation, the gate, uploads) would look dead, so a daemon thread beats for
them every `interval` seconds until stopped. A beat that fails (the database blinked) is logged and
the next one tries again; the thread closes its own database connections when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.db import connections

logger = logging.getLogger(__name__)

MAX_INTERVAL_SECONDS = 30.0


def heartbeat_interval(lifetime: timedelta) -> float:
    """Beat four times per `lifetime` (the age at which a reaper calls it dead), at least every 30 s."""
    return min(MAX_INTERVAL_SECONDS, lifetime.total_seconds() / 4)


class Heartbeat(threading.Thread):
    """Calls `beat()` every `interval` seconds until `stop()`; also a context manager."""

    def __init__(self, *, name: str, interval: float, beat: Callable[[], object]):
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.beat = beat
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    self.beat()
                except Exception as error:
                    logger.warning("%s: a beat failed: %s", self.name, error)
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
