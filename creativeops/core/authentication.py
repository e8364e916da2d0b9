"""API token authentication whose token → user lookup is cached, and dropped on every change.

DRF's TokenAuthentication reads the token and its user from the database on every request: one round
trip that, on a small model, is a visible share of a prediction's latency. Here the verified token
(with its user) is kept in the shared cache (Redis in production) for TOKEN_CACHE_SECONDS, and
signal receivers delete the entry whenever the token or its user is saved or deleted, so revoking a
token or deactivating a user takes effect on the next request in every process. Changes that bypass
signals (a queryset `update()`, raw SQL) take effect within TOKEN_CACHE_SECONDS at most.

Guessing tokens is throttled per client address: after API_TOKEN_FAILURE_LIMIT invalid tokens within
one API_TOKEN_FAILURE_WINDOW_SECONDS window, every request with a token from that address is answered
429 (with the wait) until the window ends, a valid token included, so the answers tell a guesser
nothing. The counters live in the shared cache; a cache outage lets requests through (logged).
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

from creativeops.core.clients import client_address

logger = logging.getLogger(__name__)

CACHE_PREFIX = "auth:token:"
FAILURES_PREFIX = "auth:token-failures:"


def token_cache_key(key: str) -> str:
    """The cache key of a token: a hash, so the cache never holds a usable credential as a key."""
    return CACHE_PREFIX + hashlib.sha256(key.encode()).hexdigest()


class TokenGuessingThrottled(exceptions.Throttled):
    """A 429 whose message (`reason`) says why: too many invalid tokens from this address."""

    def __init__(self, *, wait: float, reason: str):
        super().__init__(wait=wait)
        self.reason = reason


def _failure_window() -> tuple[str, float]:
    """(the current window's key suffix, seconds left in it)."""
    window = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    now = time.time()
    return str(int(now // window)), window - now % window


def _failures_key(address: str, window: str) -> str:
    return f"{FAILURES_PREFIX}{window}:{address}"


class CachedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the lookup cached and failures throttled per
    client address (see the module docstring)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token: another authentication class (or none) applies
        address = client_address(request) or "unknown"
        window, wait = _failure_window()
        key = _failures_key(address, window)
        try:
            failures = cache.get(key, 0)
        except Exception:
            logger.warning("Token cache unreachable; failed tokens are not throttled", exc_info=True)
            failures = 0
        limit = settings.API_TOKEN_FAILURE_LIMIT
        if failures >= limit:
            raise TokenGuessingThrottled(
                wait=wait,
                reason=f"{failures} invalid API tokens from this address; the limit is {limit} per "
                f"{settings.API_TOKEN_FAILURE_WINDOW_SECONDS} s (API_TOKEN_FAILURE_LIMIT).",
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            _count_failure(key, wait)
            raise

    def authenticate_credentials(self, key):
        cache_key = token_cache_key(key)
        try:
            token = cache.get(cache_key)
        except Exception:  # a cache outage must not lock every client out: ask the database
            logger.warning("Token cache unreachable; authenticating from the database", exc_info=True)
            return super().authenticate_credentials(key)
        if token is not None:
            return token.user, token
        user, token = super().authenticate_credentials(key)  # unknown or inactive: AuthenticationFailed
        try:
            cache.set(cache_key, token, settings.CREATIVEOPS["TOKEN_CACHE_SECONDS"])
        except Exception:
            logger.warning("Token cache unreachable; this token is not cached", exc_info=True)
        return user, token


def _count_failure(key: str, wait: float) -> None:
    try:
        cache.add(key, 0, timeout=int(wait) + 1)
        cache.incr(key)
    except Exception:
        logger.warning("Token cache unreachable; a failed token was not counted", exc_info=True)


def _forget(keys) -> None:
    try:
        cache.delete_many([token_cache_key(key) for key in keys])
    except Exception:
        # The entry expires by itself within TOKEN_CACHE_SECONDS; say so loudly, it delays a revocation.
        logger.error("Token cache unreachable: a changed token may stay valid for up to %s s",
                     settings.CREATIVEOPS["TOKEN_CACHE_SECONDS"], exc_info=True)  # fmt: skip


def _token_changed(sender, instance: Token, **kwargs) -> None:
    _forget([instance.key])


def _user_changed(sender, instance, **kwargs) -> None:
    _forget(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True))


def connect_signals() -> None:
    """Called from CoreConfig.ready()."""
    user_model = get_user_model()
    for signal in (post_save, post_delete):
        signal.connect(_token_changed, sender=Token, dispatch_uid=f"token-cache-{signal is post_save}")
        signal.connect(
            _user_changed, sender=user_model, dispatch_uid=f"user-token-cache-{signal is post_save}"
        )
