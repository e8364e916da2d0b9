"""Which errors are transient: the one retry policy of every Celery task and pipeline step.

Transient means the infrastructure blinked and the same call a little later may well succeed:

* the database connection dropped, was refused or timed out (Django's `OperationalError`,
  `InterfaceError`);
* the broker could not be reached to send a message (kombu's `OperationalError`);
* Redis (cache, result backend, broker) could not be reached or did not answer in time
  (redis-py's `ConnectionError` and `TimeoutError`, which are not the builtin ones);
* a socket connection was refused, reset or broken (the builtin `ConnectionError` family).

A task that calls an outside service (the MLflow tracking server) adds that service's own
"unavailable" error to these, never a narrower set. Everything else (bad data, a rule refused by a
service, a bug) is not transient: it would fail the
same way again, so it is recorded where an operator reads it (the run's row) instead of retried.
Tasks pass TRANSIENT_ERRORS to `autoretry_for` (with backoff and jitter in their decorator); the
pipeline re-raises them from a step so that its task retries them.
"""

from __future__ import annotations

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)
