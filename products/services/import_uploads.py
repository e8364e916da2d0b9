"""Catalog files waiting for an operator's confirmation (the admin's preview → confirm steps)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import PurePath
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

PENDING_UPLOADS_DIR = "imports/pending"
PENDING_UPLOAD_MAX_AGE = timedelta(days=1)


def import_upload_stage(*, file: IO[bytes], filename: str) -> tuple[str, str]:
    """Keep an uploaded file in artifact storage (shared by every web process) until it is confirmed.

    Returns (token, storage name); the token is random and unguessable, the name is not user input.
    Uploads left unconfirmed for a day are deleted on the way.
    """
    _discard_stale_uploads()
    token = secrets.token_urlsafe(24)
    file.seek(0)
    suffix = PurePath(filename).suffix.lower()
    name = default_storage.save(f"{PENDING_UPLOADS_DIR}/{token}{suffix}", File(file))
    return token, name


def _discard_stale_uploads() -> None:
    try:
        _, names = default_storage.listdir(PENDING_UPLOADS_DIR)
    except (FileNotFoundError, NotImplementedError):
        return
    cutoff = timezone.now() - PENDING_UPLOAD_MAX_AGE
    for name in names:
        path = f"{PENDING_UPLOADS_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (FileNotFoundError, NotImplementedError):
            continue


def import_upload_discard(*, name: str) -> None:
    if name.startswith(f"{PENDING_UPLOADS_DIR}/") and default_storage.exists(name):
        default_storage.delete(name)
