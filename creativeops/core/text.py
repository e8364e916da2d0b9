"""What text a person may put into the catalog or the API: the one rule for control characters.

Refused: every control character (Unicode category Cc: NUL, BEL, ESC, DEL, the C1 range …) except
tab, line feed and carriage return, and the bidirectional embedding, override and isolate controls
(U+202A–U+202E, U+2066–U+2069) that can make text display in a different order than it is stored
("Trojan Source"). They are refused, never stripped: a silent change would make the stored value
differ from the file or request the client holds. Ordinary Unicode (accents, CJK, emoji, the
left-to-right / right-to-left marks U+200E / U+200F that real right-to-left text uses) is accepted.
"""

from __future__ import annotations

import re
import unicodedata

# Category Cc is exactly U+0000–U+001F and U+007F–U+009F; tab, LF and CR are allowed.
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {"\x00": "NUL", "\x07": "BEL", "\x08": "BS", "\x1b": "ESC", "\x7f": "DEL"}


def forbidden_character(value: str) -> str | None:
    """None if `value` is acceptable, else a description of its first forbidden character,
    e.g. "a control character U+001B (ESC) at position 7"."""
    match = FORBIDDEN_CHARACTERS.search(value)
    if match is None:
        return None
    character, position = match.group(), match.start() + 1
    if unicodedata.category(character) != "Cc":
        name = unicodedata.name(character, "").title()
        return f"a bidirectional control character U+{ord(character):04X} ({name}) at position {position}"
    name = _CONTROL_NAMES.get(character)
    label = f"U+{ord(character):04X}" + (f" ({name})" if name else "")
    return f"a control character {label} at position {position}"
