"""CSV cells that a spreadsheet shows as text and never runs as a formula (OWASP "CSV injection").

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (`=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`); a leading apostrophe makes
them show it as text. `spreadsheet_cell` adds that apostrophe, and also to a cell that already starts
with one, so that `spreadsheet_cell_restore` gives back exactly the original value: an exported
catalog imports back unchanged.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_PREFIXES = (*FORMULA_PREFIXES, "'")


def spreadsheet_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_ESCAPED_PREFIXES) else text


def spreadsheet_cell_restore(text: str) -> str:
    """The inverse of `spreadsheet_cell`: an apostrophe before a formula character (or before
    another apostrophe) is dropped; any other text is returned as it is."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_ESCAPED_PREFIXES) else text
