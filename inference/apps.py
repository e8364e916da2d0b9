from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InferenceConfig(AppConfig):
    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from inference.search import headline_search_index_ensure

        # After every migrate, not in a migration: a later migration that rebuilds the creatives table
        # on SQLite would drop the search index's triggers (see inference.search).
        post_migrate.connect(headline_search_index_ensure, sender=self, dispatch_uid="headline_search_index")
