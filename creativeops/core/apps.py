from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creativeops.core"
    label = "core"
    verbose_name = "CreativeOps core"
