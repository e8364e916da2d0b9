"""API conventions shared by every app: one error shape, ApplicationError mapped to 4xx."""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from creativeops.core.errors import ApplicationError


def exception_handler(exc, context):
    """Every error answer is `{"error": {"message", "field"?, "details"?}}`.

    DRF's validation errors keep their per-field details so a client can point at the field.
    """
    if isinstance(exc, ApplicationError):
        body = {"message": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update(exc.extra)
        return Response({"error": body}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"message": _first_message(exc.detail), "details": exc.detail}
        field = _first_field(exc.detail)
        if field:
            body["field"] = field
        response.data = {"error": body}
    elif isinstance(exc, exceptions.Throttled):
        response.data = {
            "error": {"message": f"Rate limit reached; retry in {exc.wait:.0f} s.", "wait": exc.wait}
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": {"message": str(response.data["detail"])}}
    return response


def _first_message(detail, path: str = "") -> str:
    """A one-line summary naming the first field at fault, e.g. `count: Ensure this value ...`."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, (dict, list)):
            index = next((i for i, item in enumerate(detail) if item), 0)
            return _first_message(detail[index], f"{path}[{index}]")
        return f"{path}: {first}" if path else str(first)
    return f"{path}: {detail}" if path else str(detail)


def _first_field(detail, path: str = "") -> str:
    """The path of the first field at fault (`count`, `items[3].title`), or "" for a non-field error."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return path
            return _first_field(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail and isinstance(detail[0], (dict, list)):
        index = next((i for i, item in enumerate(detail) if item), 0)
        return _first_field(detail[index], f"{path}[{index}]")
    return path


def error_response(message: str, *, status_code: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"error": {"message": message, **extra}}, status=status_code)
