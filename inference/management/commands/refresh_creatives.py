"""Write the creatives of the whole catalog with the production model (what the periodic check queues)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from creativeops.core.errors import ApplicationError
from inference.services import creatives_refresh, creatives_refresh_if_needed
from inference.services.refresh import REFRESH_BATCH_ROWS
from registry.selectors import production_version


class Command(BaseCommand):
    help = (
        "Refresh the stored creatives of every product and tone with the production model. Without "
        "--wait the refresh is queued (once per version) for a worker; with --wait it runs here with a "
        "progress bar and continues where an earlier run stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--name", default=settings.CREATIVEOPS["DEFAULT_MODEL_NAME"], help="registered model name"
        )
        parser.add_argument(
            "--wait", action="store_true", help="run the refresh in this process and wait for it"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=REFRESH_BATCH_ROWS,
            help=f"rows (products x tones) per generation call (1-64, default {REFRESH_BATCH_ROWS})",
        )

    def handle(self, *args, name: str, wait: bool, batch_size: int, **options):
        version = production_version(name)
        if version is None:
            raise CommandError(f"No version of {name} is in production: nothing to refresh.")
        if not wait:
            refresh = creatives_refresh_if_needed(name=name)
            if refresh is None:
                self.stdout.write(f"{name} v{version.version}: the refresh is already done or under way.")
            else:
                self.stdout.write(self.style.SUCCESS(f"{name} v{version.version}: refresh queued."))
            return
        with tqdm(desc=f"{name} v{version.version}", unit="creative", total=0) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                refresh = creatives_refresh(
                    model_version_id=version.pk, batch_size=batch_size, progress=progress
                )
            except ApplicationError as error:
                raise CommandError(error.message)
        self.stdout.write(
            self.style.SUCCESS(
                f"{name} v{version.version}: {refresh.status}, "
                f"{refresh.done} of {refresh.total} creatives written."
            )
        )
