"""Reading settings from the environment, in one place.

Every setting that differs between a laptop and production is read here. A production secret has no
default: when it is missing the process refuses to start and names the variable.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_required(name: str, *, why: str) -> str:
    """A value that must be set; the error names the variable so the operator can fix it at once."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"Environment variable {name} is required: {why}")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a boolean (use 1/0, true/false).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not an integer.")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a number.")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_service_url(name: str, *, embedded: bool, what: str) -> str | None:
    """The URL of a service production must name; None means "use the embedded default".

    The embedded defaults (SQLite, tasks in process, a file cache) suit one laptop only: several web
    processes on them would each keep their own queue and cache, silently. So when they are not
    allowed (`CREATIVEOPS_EMBEDDED` off, the default when DEBUG is off) a missing URL stops the
    process at start-up with the variable's name.
    """
    value = env_str(name, "").strip()
    if value or embedded:
        return value or None
    return env_required(
        name,
        why=f"{what}. Set it, or CREATIVEOPS_EMBEDDED=1 to run on the embedded single-machine default.",
    )
