"""The one error type that services raise when a rule forbids what was asked."""

from __future__ import annotations


class ApplicationError(Exception):
    """A refusal a person can act on: the message says what is wrong and, where it helps, what to do.

    `field` names the input at fault (used in 400 answers); `status_code` lets an API answer 404 or
    409 where that is the truth rather than a generic 400.
    """

    def __init__(self, message: str, *, field: str | None = None, status_code: int = 400, extra=None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status_code = status_code
        self.extra = extra or {}
