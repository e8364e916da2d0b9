"""What the registry commands share: who acts, and errors as CommandError messages, never tracebacks."""

from __future__ import annotations

import getpass
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from creativeops.core.errors import ApplicationError
from registry.services.promotion import clean_reason


class RegistryCommand(BaseCommand):
    def add_name_argument(self, parser) -> None:
        parser.add_argument(
            "--name",
            default=settings.CREATIVEOPS["DEFAULT_MODEL_NAME"],
            help="Model name (default: %(default)s).",
        )

    def add_actor_arguments(self, parser) -> None:
        parser.add_argument("--reason", required=True, help="Why; kept in the audit trail (required).")
        parser.add_argument(
            "--actor",
            metavar="USERNAME",
            help="Act as this user (their permissions are checked). Default: the shell user, recorded as "
            "'manage.py:<login>'.",
        )

    def actor(self, username: str | None):
        """(user or None, label or None): a named user, or the shell user when none is given."""
        if not username:
            return None, f"manage.py:{_login()}"
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        return user, None

    @staticmethod
    def reason(value: str) -> str:
        with service_errors():
            return clean_reason(value)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def service_errors():
    """An ApplicationError becomes a CommandError: its message on stderr, exit status 1."""
    try:
        yield
    except ApplicationError as error:
        raise CommandError(error.message)
