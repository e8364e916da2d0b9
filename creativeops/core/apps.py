from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creativeops.core"
    label = "core"
    verbose_name = "CreativeOps core"

    def ready(self):
        from creativeops.core.authentication import connect_signals

        connect_signals()
