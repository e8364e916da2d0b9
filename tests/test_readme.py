"""The README stays true: it names every management command of the project and every API route."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management import get_commands
from django.urls import URLPattern, URLResolver, get_resolver

README = (Path(settings.BASE_DIR) / "README.md").read_text()
PROJECT_APPS = ("creativeops", "products", "training", "registry", "inference")


def test_every_management_command_of_the_project_is_in_the_readme():
    ours = sorted(name for name, app in get_commands().items() if app.startswith(PROJECT_APPS))
    assert ours, "no project command found"
    missing = [name for name in ours if f"`{name}" not in README]
    assert not missing, f"README does not name: {missing}"


def _routes(resolver, prefix: str = "") -> list[str]:
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            routes.append(route)
    return routes


def test_every_api_route_is_in_the_readme():
    api = sorted({route for route in _routes(get_resolver()) if route.startswith("api/v1/")})
    assert api
    # `<str:name>` in Django's route is written `<name>` in the README.
    missing = [
        route for route in api if "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", route).rstrip("/") not in README
    ]
    assert not missing, f"README does not name: {missing}"
