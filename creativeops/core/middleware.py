"""Refuse oversized API bodies before anything reads them."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


class RequestSizeLimitMiddleware:
    """A 413 that names the limit, instead of Django's generic 400 for RequestDataTooBig.

    Only JSON API paths are limited here; admin file uploads have their own, larger limit
    (IMPORT_MAX_FILE_BYTES) checked by the import service.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            limit = settings.API_MAX_BODY_BYTES
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"error": {"message": "Content-Length is not a number."}}, status=400)
            if length > limit:
                message = f"Request body is {length} bytes; the limit is {limit} bytes."
                return JsonResponse(
                    {"error": {"message": message, "field": "body", "limit": limit}}, status=413
                )
        return self.get_response(request)
