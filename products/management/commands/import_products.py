"""Import a CSV or JSON catalog file: `manage.py import_products catalog.csv [--dry-run]`."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from creativeops.core.errors import ApplicationError
from products.services import products_import


class Command(BaseCommand):
    help = (
        "Import products (and their reference creatives) from a .csv or .json file. Rows are matched by "
        "sku; bad rows are listed by line and field and not stored. Exits with status 1 if any row was "
        "rejected or the file could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="Path of the .csv or .json file.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count; store nothing.")
        parser.add_argument("--actor", default="", help="Username recorded as the importer (optional).")

    def handle(self, *args, file: Path, dry_run: bool, actor: str, **options):
        if not file.is_file():
            raise CommandError(f"{file} does not exist or is not a file.")
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor).first()
            if user is None:
                raise CommandError(f"No user named {actor!r}.")
        try:
            with file.open("rb") as handle:
                report = products_import(file=handle, filename=file.name, actor=user, dry_run=dry_run)
        except ApplicationError as error:
            raise CommandError(error.message)
        for issue in report.errors:
            self.stdout.write(self.style.ERROR(f"  {issue}"))
        style = self.style.WARNING if report.rejected_rows else self.style.SUCCESS
        self.stdout.write(style(("Dry run, nothing stored. " if dry_run else "") + report.summary()))
        if report.rejected_rows:
            raise CommandError(
                f"{report.rejected_rows:,} row{'s' if report.rejected_rows != 1 else ''} rejected "
                "(listed above); the other rows were " + ("checked." if dry_run else "stored.")
            )
