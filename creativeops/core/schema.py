"""OpenAPI component names for the one-APIView-per-operation style.

Every view nests its own `InputSerializer` / `OutputSerializer` (HackSoft style), so drf-spectacular's
default naming (the class name) gives many different components all called "Input" or "Output" and
warns that the schema is wrong. A nested serializer is named after its view instead:
`ProductDetailApi.OutputSerializer` becomes `ProductDetailOutput`, and the request side of
`PipelineRunStartApi.InputSerializer` becomes `PipelineRunStartInputRequest`. An explicit
`@extend_schema_serializer(component_name=...)` still wins.
"""

from __future__ import annotations

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
