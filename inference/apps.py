from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InferenceConfig(AppConfig):
    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from inference.search import headline_search_index_ensure
        from registry.signals import production_changed

        production_changed.connect(_refresh_creatives, dispatch_uid="inference-refresh-on-promotion")
        # After every migrate, not in a migration: a later migration that rebuilds the creatives table
        # on SQLite would drop the search index's triggers (see inference.search).
        post_migrate.connect(headline_search_index_ensure, sender=self, dispatch_uid="headline_search_index")


def _refresh_creatives(sender, *, name: str, **kwargs) -> None:
    """A promotion or rollback committed: queue the creatives refresh check now.

    With workers this saves up to a minute of waiting for beat; in eager mode (no broker, `make run`)
    there is no beat at all, so this is what writes the new production model's creatives, in process.
    """
    from inference.tasks import creatives_refresh_check

    creatives_refresh_check.delay(name)
