"""Create (once) the first operator account, with a password that is never a fixed default."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from creativeops.core.roles import OPERATORS


class Command(BaseCommand):
    help = (
        "Create the operator account if it does not exist. The password comes from "
        "CREATIVEOPS_OPERATOR_PASSWORD or is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CREATIVEOPS_OPERATOR_USERNAME", "operator"))
        parser.add_argument(
            "--email", default=os.environ.get("CREATIVEOPS_OPERATOR_EMAIL", "operator@localhost")
        )

    def handle(self, *args, username: str, email: str, **options):
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(f"Operator account '{username}' already exists; its password is unchanged.")
            return
        password = os.environ.get("CREATIVEOPS_OPERATOR_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        user = user_model(username=username, email=email, is_staff=True, is_superuser=True)
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("CREATIVEOPS_OPERATOR_PASSWORD is too weak: " + " ".join(error.messages))
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=OPERATORS))
        self.stdout.write(self.style.SUCCESS(f"Created operator account '{username}'."))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Generated password (shown only this once, store it now): {password}\n"
                    "Set CREATIVEOPS_OPERATOR_PASSWORD before the first run to choose it yourself."
                )
            )
