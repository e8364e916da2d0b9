"""OpenAPI component names for the one-APIView-per-operation style.

Every view nests its own `InputSerializer` / `OutputSerializer` (HackSoft style), so drf-spectacular's
default naming (the class name) gives many different components all called "Input" or "Output" and
warns that the schema is wrong. A nested serializer is named after its view instead:
`ProductDetailApi.OutputSerializer` becomes `ProductDetailOutput`, and the request side of
`PipelineRunStartApi.InputSerializer` becomes `PipelineRunStartInputRequest`. An explicit
`@extend_schema_serializer(component_name=...)` still wins.
"""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

VIEW_SUFFIXES = ("Api", "APIView", "View", "ViewSet")


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        qualified = serializer.__class__.__qualname__
        if "." not in qualified or "<locals>" in qualified:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualified.rsplit(".", 1)
        outer = outer.rsplit(".", 1)[-1]
        for suffix in VIEW_SUFFIXES:
            if outer.endswith(suffix) and outer != suffix:
                outer = outer[: -len(suffix)]
                break
        return outer + inner


ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "The error shape of every API answer (creativeops.core.api.exception_handler).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "description": "What is wrong, naming the field and the limit.",
                },
                "field": {"type": "string"},
                "details": {"description": "Per-field messages of a validation error."},
                "wait": {"type": "number", "description": "Seconds until a rate limit allows a request."},
                "limit": {"type": "integer", "description": "The limit that was exceeded."},
            },
            "required": ["message"],
        }
    },
    "required": ["error"],
}
# Answers any operation can give, whatever its view says: the project-wide layers before the view.
_ALWAYS = {
    "401": "No or unknown credentials (header `Authorization: Token <key>`).",
    "429": "Too many requests: this endpoint's rate limit, or too many invalid API tokens from this client "
    "address (API_TOKEN_FAILURE_LIMIT); `wait` and the Retry-After header say for how long.",
}
_WITH_BODY = {
    "400": "Invalid input, or a body that is not JSON this API reads (malformed, nested too deep, NaN).",
    "413": "Request body larger than API_MAX_BODY_BYTES.",
    "415": "The body is not `application/json`.",
}
_WITH_PATH_PARAMETERS = {"404": "Nothing is stored under this path."}
_PARAMETER = re.compile(r"{[^}]+}")


def complete_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors that layers outside
    its view answer (authentication, the failed-token and rate throttles, the body parser and size
    limit, a 404 for a path parameter that names nothing), in the one error shape."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            expected = dict(_ALWAYS)
            if method in ("post", "put", "patch"):
                expected.update(_WITH_BODY)
            if _PARAMETER.search(path):
                expected.update(_WITH_PATH_PARAMETERS)
            responses = operation.setdefault("responses", {})
            for code, description in expected.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
            operation["responses"] = dict(sorted(responses.items()))
    return result
