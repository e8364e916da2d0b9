"""Writing PredictionLog rows (the inputs drift detection samples) off the request path.

Every prediction logs its input. One INSERT per request costs a database round trip and a worker
thread's time after each response; under load that is most of the serving overhead. So each process
queues the rows and one background thread writes them in batches, every PREDICTION_LOG_FLUSH_SECONDS
(or sooner once PREDICTION_LOG_BATCH rows wait). The trade-off, chosen knowingly: rows still queued
when a process is killed (not stopped: a normal exit flushes) are lost; they are drift samples, not
records anyone is owed. With PREDICTION_LOG_FLUSH_SECONDS = 0 rows are written at once (the tests).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from inference.models import PredictionLog

logger = logging.getLogger(__name__)

# Rows kept while the database is unreachable; beyond this the oldest are dropped (and counted).
MAX_QUEUED_ROWS = 50_000


def prediction_logs_write(*, logs: Sequence[PredictionLog]) -> None:
    """Write PredictionLog rows now; a failure loses drift samples, never a client's answer."""
    if not logs:
        return
    # Outside a transaction a single row commits by itself: one round trip instead of
    # BEGIN / INSERT / COMMIT (bulk_create always opens a transaction). Inside one, a savepoint keeps
    # a failure from breaking the caller's transaction.
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            if len(logs) == 1:
                logs[0].save(force_insert=True)
            else:
                PredictionLog.objects.bulk_create(logs, batch_size=1000)
    except DatabaseError:
        logger.warning("%s prediction log rows could not be written", len(logs), exc_info=True)


def prediction_logs_submit(*, logs: Sequence[PredictionLog]) -> None:
    """Queue rows for this process's writer thread (or write them now when the interval is 0)."""
    if not logs:
        return
    if float(settings.CREATIVEOPS["PREDICTION_LOG_FLUSH_SECONDS"]) <= 0 or _writer.stopped:
        prediction_logs_write(logs=logs)
        return
    _writer.submit(logs)


def prediction_logs_flush() -> None:
    """Write every queued row now, in the calling thread (shutdown, tests)."""
    _writer.flush()


def prediction_logs_stop() -> None:
    """Flush, end the writer thread and write inline from now on (before dropping its database)."""
    _writer.stop()


class _Writer:
    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[PredictionLog] = []
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._stopping = False
        self._writing = threading.Lock()  # one batch at a time (the thread or a flush)

    def submit(self, logs: Sequence[PredictionLog]) -> None:
        with self._lock:
            self._pending.extend(logs)
            overflow = len(self._pending) - MAX_QUEUED_ROWS
            if overflow > 0:
                del self._pending[:overflow]
                self._dropped += overflow
            if len(self._pending) >= int(settings.CREATIVEOPS["PREDICTION_LOG_BATCH"]):
                self._wake.notify()
            # Started lazily in the process that serves (a gunicorn worker after the fork), never in
            # a parent that forks later.
            if not self._stopping and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            prediction_logs_write(logs=batch)

    @property
    def stopped(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """End the thread after a last flush (tests; a normal exit flushes through atexit)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while True:
            interval = float(settings.CREATIVEOPS["PREDICTION_LOG_FLUSH_SECONDS"])
            with self._lock:
                if not self._stopping and interval > 0:
                    self._wake.wait(timeout=interval)
                stopping = self._stopping or interval <= 0
                dropped, self._dropped = self._dropped, 0
                has_rows = bool(self._pending)
            if dropped:
                logger.warning("%s prediction log rows dropped: the queue was full", dropped)
            if has_rows:
                try:
                    close_old_connections()  # a connection past CONN_MAX_AGE or broken: reconnect
                    self.flush()
                except Exception:  # the thread must survive anything; the rows of this batch are lost
                    logger.exception("Prediction log writer failed to write a batch")
                finally:
                    # No connection is held between batches: nothing pins a database that a test or
                    # the benchmark sandbox is about to drop, and an idle worker holds no slot.
                    connection.close()
            if stopping:  # stopped, or switched to writing inline
                return


_writer = _Writer()
atexit.register(prediction_logs_flush)
