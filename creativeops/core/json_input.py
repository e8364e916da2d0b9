"""Reading JSON that someone else wrote: the one place where its nesting depth is bounded.

Python's `json` module parses nested arrays and objects by recursion, so a 10 KB body of `[[[[…`
raises RecursionError (a 500, a traceback) long before any size limit applies. Every JSON input
(API bodies through `creativeops.core.api.JSONParser`, catalog files through the importer) is read
with `json_input_loads`, which measures the depth first and refuses anything deeper than
JSON_MAX_DEPTH with a message that names the limit. No input of this project needs more than a few
levels (a catalog file is 4 deep: products, a product, its creatives, a creative).
"""

from __future__ import annotations

import json
import re
from typing import Any

JSON_MAX_DEPTH = 32

# A JSON string (escapes included), so brackets inside strings are not counted; unrolled for speed.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JSONInputError(ValueError):
    """The text is not JSON this project reads: `str(error)` says why, naming the limit broken."""


def json_nesting_depth(text: str, *, stop_above: int = JSON_MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in `text` (0 for a scalar); counting stops once it passes
    `stop_above`, so a hostile body costs one regular-expression pass at most."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_above:
                break
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str):
    raise JSONInputError(f"{name} is not a JSON number; JSON has no NaN or Infinity.")


def json_input_loads(text: str) -> Any:
    """`json.loads` for untrusted text: nesting deeper than JSON_MAX_DEPTH and the non-standard
    constants NaN / Infinity raise JSONInputError; malformed JSON raises json.JSONDecodeError."""
    if json_nesting_depth(text) > JSON_MAX_DEPTH:
        raise JSONInputError(
            f"JSON arrays and objects are nested more than {JSON_MAX_DEPTH} levels deep; "
            f"the limit is {JSON_MAX_DEPTH}."
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # cannot happen below the depth limit; kept so it can never be a 500
        raise JSONInputError(f"JSON nests too deeply; the limit is {JSON_MAX_DEPTH} levels.")
