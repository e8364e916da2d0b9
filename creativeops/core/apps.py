from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creativeops.core"
    label = "core"
    verbose_name = "CreativeOps core"

    def ready(self):
        from django.urls import register_converter

        from creativeops.core.authentication import connect_signals
        from creativeops.core.converters import SkuConverter

        connect_signals()
        # Before any URLconf is imported (they load lazily, after every app is ready).
        register_converter(SkuConverter, "sku")
