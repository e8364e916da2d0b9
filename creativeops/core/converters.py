"""The `<sku:…>` path converter: any stored SKU as one URL path segment, and back.

A SKU is the catalog's own identifier, so real ones hold `/`, spaces, `#`, `?`, `%` and any Unicode;
what the catalog refuses is only control and bidirectional-override characters (creativeops/core/
text.py), leading and trailing spaces, and more than 64 characters. Django's `reverse()`
percent-encodes everything a path may not hold (space, `#`, `?`, `%`, non-ASCII), and the server
decodes it before routing, so those need nothing here. Three things do, because a decoded path
would route or be normalised wrongly:

* `/` would split the segment (`product/<sku>/regenerate/` would be ambiguous): written `~2F`;
* a SKU of `.` or `..` is a dot segment that browsers and HTTP clients remove: written `~2E`;
* `~` itself, the escape character: written `~7E`.

`to_python` undoes exactly these three, so every SKU has one URL and the URL gives back the SKU.
"""

from __future__ import annotations

import re

_ESCAPES = {"~": "~7E", "/": "~2F"}
_UNESCAPE = re.compile("~(7E|2F|2E)", re.IGNORECASE)
_UNESCAPED = {"7E": "~", "2F": "/", "2E": "."}


class SkuConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return _UNESCAPE.sub(lambda match: _UNESCAPED[match.group(1).upper()], value)

    def to_url(self, value: str) -> str:
        text = "".join(_ESCAPES.get(character, character) for character in str(value))
        if text in (".", ".."):
            text = text.replace(".", "~2E")
        return text
