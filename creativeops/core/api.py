"""API conventions shared by every app: one error shape, ApplicationError mapped to 4xx."""

from __future__ import annotations

import codecs
import math

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from creativeops.core.errors import ApplicationError
from creativeops.core.json_input import JSONInputError, json_input_loads
from creativeops.core.text import forbidden_character


def exception_handler(exc, context):
    """Every error answer is `{"error": {"message", "field"?, "details"?}}`.

    DRF's validation errors keep their per-field details so a client can point at the field.
    """
    if isinstance(exc, ApplicationError):
        body = {"message": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update(exc.extra)
        response = Response({"error": body}, status=exc.status_code)
        if "wait" in exc.extra:  # a refusal that passes: say when to come back
            response["Retry-After"] = str(math.ceil(exc.extra["wait"]))
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message, field = first_error(exc.detail)
        body = {"message": message, "details": exc.detail}
        if field:
            body["field"] = field
        response.data = {"error": body}
    elif isinstance(exc, exceptions.Throttled):
        reason = getattr(exc, "reason", None)  # why, when it is not the endpoint's own rate
        message = (
            f"{reason} Retry in {exc.wait:.0f} s."
            if reason
            else f"Rate limit reached; retry in {exc.wait:.0f} s."
        )
        response.data = {"error": {"message": message, "wait": exc.wait}}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": {"message": str(response.data["detail"])}}
    return response


def first_error(detail, path: str = "") -> tuple[str, str | None]:
    """(message, field) of the first error in a serializer's errors: the one walker behind every 400
    answer and every refused batch item, e.g. ("items[3].title: This field ...", "items[3].title").

    A list of per-item errors (a ListSerializer's, where valid items are `{}`) is entered at its first
    non-empty entry; a non-field error has no field and its message no prefix.
    """
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                return first_error(value, path)
            return first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, (dict, list)):
            index = next((i for i, item in enumerate(detail) if item), 0)
            return first_error(detail[index], f"{path}[{index}]")
        return first_error(first, path)
    text = str(detail)
    return (f"{path}: {text}" if path else text), (path or None)


def error_response(message: str, *, status_code: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"error": {"message": message, **extra}}, status=status_code)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser reading through `json_input_loads`: a body nested deeper than JSON_MAX_DEPTH,
    or holding NaN / Infinity, is a 400 that says so (never a RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json_input_loads(text)
        except JSONInputError as error:
            raise exceptions.ParseError(str(error))
        except ValueError as error:  # json.JSONDecodeError, or bytes that are not the declared encoding
            raise exceptions.ParseError(f"JSON parse error - {error}")


class PlainTextField(serializers.CharField):
    """A CharField that refuses control and bidirectional-override characters (creativeops/core/text.py),
    the same rule the catalog import applies: "Contains a control character U+001B (ESC) at position 4."
    """

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        forbidden = forbidden_character(value)
        if forbidden:
            raise serializers.ValidationError(f"Contains {forbidden}; remove it.", code="forbidden_character")
        return value


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    """The project's handler404: an unmatched /api/ path answers in the API's JSON error shape."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"message": f"No API endpoint at {request.path}."}}, status=404)
    return defaults.page_not_found(request, exception)
