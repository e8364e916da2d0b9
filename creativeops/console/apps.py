from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """An app only so that its template tags (`{% load dashboard %}`) are found."""

    name = "creativeops.console"
    label = "console"
    verbose_name = "Operator console"
