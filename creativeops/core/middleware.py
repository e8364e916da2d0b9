"""Middleware of the project: oversized API bodies refused before anything reads them; the
Content-Security-Policy header on every answer."""

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


class ContentSecurityPolicyMiddleware:
    """Sets CONTENT_SECURITY_POLICY (a dict of directive → sources) on every response that has none.

    The policy allows scripts only from this site's own files, never inline or injected ones, so an
    XSS payload that slipped into a page could not run. Paths under a prefix of
    CONTENT_SECURITY_POLICY_EXTRA_SOURCES (the Swagger UI at /api/docs/, which loads its bundle from a
    CDN) add those sources to script, style and image directives, for those paths only.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        return response


def content_security_policy(path: str) -> str:
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
    for prefix, extra in settings.CONTENT_SECURITY_POLICY_EXTRA_SOURCES.items():
        if path.startswith(prefix):
            for name in ("script-src", "style-src", "img-src"):
                directives.setdefault(name, ["'self'"]).extend(extra)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())
