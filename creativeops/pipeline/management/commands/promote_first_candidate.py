"""Used by `make run`: on a fresh install, put the first model in production so the pages have content.

It refuses to act once any version of the model has been in production: from then on promotion is an
operator's decision in the admin (or `manage.py promote`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from creativeops.core.errors import ApplicationError
from registry.models import ModelVersion, RegistryEvent


class Command(BaseCommand):
    help = "Promote the newest candidate if no version of the model was ever in production."

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True)
        parser.add_argument("--name", default=None)

    def handle(self, *args, reason: str, name: str | None, **options):
        from registry.services import model_version_promote

        name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
        if (
            RegistryEvent.objects.filter(model_name=name, to_version__isnull=False)
            .exclude(
                action__in=[
                    RegistryEvent.Action.REGISTER,
                    RegistryEvent.Action.REJECT,
                    RegistryEvent.Action.MLFLOW_SYNC,
                ]
            )
            .exists()
            or ModelVersion.objects.production().filter(name=name).exists()
        ):
            self.stdout.write(f"{name} has had a production version; nothing to do.")
            return
        candidate = ModelVersion.objects.candidates().filter(name=name).order_by("-version").first()
        if candidate is None:
            raise CommandError(f"No candidate version of {name} to promote.")
        try:
            model_version_promote(version=candidate, actor=None, reason=reason)
        except ApplicationError as error:
            raise CommandError(error.message)
        self.stdout.write(self.style.SUCCESS(f"{name} v{candidate.version} is now in production."))
