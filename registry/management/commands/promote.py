"""manage.py promote VERSION --reason "…" [--name NAME] [--force] [--actor USERNAME]"""

from __future__ import annotations

from django.core.management.base import CommandError

from registry import selectors
from registry.management.commands._registry_command import RegistryCommand, service_errors
from registry.services import model_version_promote


class Command(RegistryCommand):
    help = "Approve and promote a model version to production (the previous production is archived)."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="Version number to promote.")
        self.add_name_argument(parser)
        self.add_actor_arguments(parser)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Override the evaluation gate for a rejected version (needs --actor with the override "
            "permission).",
        )

    def handle(self, *args, version: int, name: str, reason: str, actor: str | None, force: bool, **options):
        reason = self.reason(reason)
        user, label = self.actor(actor)
        target = selectors.model_version_get(name=name, version=version)
        if target is None:
            raise CommandError(f"{name} has no version {version}.")
        with service_errors():
            promoted = model_version_promote(
                version=target, actor=user, reason=reason, force=force, actor_label=label
            )
        # What the transaction archived, not what was in production before it: another promotion
        # may commit in between (the audit trail records the same version).
        archived = promoted.replaced_production
        was = f" (v{archived.version} archived)" if archived else ""
        self.stdout.write(self.style.SUCCESS(f"{name} v{promoted.version} is now in production{was}."))
