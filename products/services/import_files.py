"""Reading a catalog file into rows that carry their line number: the importer's first step.

CSV (UTF-8 with or without BOM; comma, semicolon or tab separated, told by the header line) or JSON
(a list of product objects or `{"products": [...]}`). In CSV, an apostrophe before a cell that starts
with a formula character (`'=…`, `'+…`, `'-…`, `'@…`) or another apostrophe is dropped: that is how
the catalog export keeps spreadsheets from running cells as formulas. A file that cannot be read at
all is refused with an `ApplicationError` (field "file"); a row that is malformed carries its own
issues.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings

from creativeops.core.errors import ApplicationError
from creativeops.core.json_input import JSONInputError, json_input_loads
from creativeops.core.spreadsheet import spreadsheet_cell_restore

REQUIRED_COLUMNS: tuple[str, ...] = ("sku", "title", "category", "brand", "description", "price", "rating")
# Optional product columns: a file without them imports as before and leaves them as they are stored.
OPTIONAL_PRODUCT_COLUMNS: tuple[str, ...] = ("url",)
CREATIVE_COLUMNS: tuple[str, ...] = ("tone", "headline", "body", "cta")
# Optional creative columns: a creative without a channel is `generic` (all copy before channels).
OPTIONAL_CREATIVE_COLUMNS: tuple[str, ...] = ("channel",)
CATALOG_COLUMNS: tuple[str, ...] = (
    REQUIRED_COLUMNS + OPTIONAL_PRODUCT_COLUMNS + OPTIONAL_CREATIVE_COLUMNS + CREATIVE_COLUMNS
)
# Python's csv module refuses a whole file at its first cell above 131,072 characters. The reader's
# limit is lifted to the file limit (no cell can be larger than the file), and a cell above this
# limit is reported as its row's problem, by line and column, while the other rows are imported.
CSV_CELL_MAX_CHARS = 131_072


@dataclass(frozen=True)
class ImportIssue:
    """One problem: `line` and `field` are None for a problem of the whole row or file. In a JSON
    file, where many products share a line, `item` (1 for the first product) and `sku` say which."""

    line: int | None
    field: str | None
    message: str
    item: int | None = None
    sku: str | None = None

    @property
    def where(self) -> str:
        """e.g. "line 1, item 3 (sku 'AB-1')" or "line 12"."""
        parts = [f"line {self.line}" if self.line else "", f"item {self.item}" if self.item else ""]
        where = ", ".join(part for part in parts if part)
        if self.sku:
            where += f" (sku {self.sku!r})" if where else f"sku {self.sku!r}"
        return where

    def __str__(self) -> str:
        where = ", ".join(part for part in (self.where, self.field) if part)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class RawRow:
    """A row as read from the file, before validation."""

    line: int
    values: dict[str, Any]
    nested_creatives: Any = None
    issues: tuple[ImportIssue, ...] = ()
    item: int | None = None  # JSON: the product's position in the list, from 1


def read_catalog_file(*, file: IO[bytes], filename: str) -> tuple[str, Iterator[RawRow]]:
    """("csv" or "json", the rows); the whole-file checks (type, size, encoding, header, JSON shape)
    happen here, before the first row is returned."""
    file_format = _file_format(filename)
    text = _decode(_read_limited(file, filename), filename)
    rows = _csv_rows(text, filename) if file_format == "csv" else _json_rows(text, filename)
    return file_format, rows


def _file_format(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ApplicationError(
            f"{filename}: unsupported file type '{suffix or 'none'}'; upload a .csv or .json file.",
            field="file",
        )
    return suffix[1:]


def _read_limited(file: IO[bytes], filename: str) -> bytes:
    limit = settings.IMPORT_MAX_FILE_BYTES
    size = getattr(file, "size", None)
    data = b"" if size is not None and size > limit else file.read(limit + 1)
    if size is not None and size > limit or len(data) > limit:
        shown = f"{size:,} bytes" if size is not None else f"over {limit:,} bytes"
        raise ApplicationError(
            f"{filename} is {shown}; the import limit is {limit:,} bytes (IMPORT_MAX_FILE_BYTES). "
            "Split the catalog into smaller files.",
            field="file",
        )
    if isinstance(data, str):  # a text-mode file handed in by a caller: nothing to decode
        data = data.encode("utf-8")
    return data


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ApplicationError(
            f"{filename} is not UTF-8: invalid byte 0x{data[error.start]:02x} on line {line}. "
            "Save it as UTF-8 (in Excel: “CSV UTF-8”) and upload it again.",
            field="file",
        )


def _csv_rows(text: str, filename: str) -> Iterator[RawRow]:
    header_line = text[: text.find("\n")] if "\n" in text else text
    delimiter = max((",", ";", "\t"), key=header_line.count)
    # Process-wide, and only ever raised: the file itself is capped at IMPORT_MAX_FILE_BYTES.
    csv.field_size_limit(max(csv.field_size_limit(), settings.IMPORT_MAX_FILE_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ApplicationError(
            f"{filename} is empty: expected a header row naming {', '.join(REQUIRED_COLUMNS)}.", field="file"
        )
    _check_header(header, filename)
    return _csv_data_rows(reader, header, filename)


def _check_header(header: list[str], filename: str) -> None:
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise ApplicationError(
            f"{filename}: column {', '.join(duplicates)} appears more than once in the header.", field="file"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        optional = OPTIONAL_PRODUCT_COLUMNS + OPTIONAL_CREATIVE_COLUMNS + CREATIVE_COLUMNS
        raise ApplicationError(
            f"{filename} is missing required columns: {', '.join(missing)}. The header needs "
            f"{', '.join(REQUIRED_COLUMNS)}; {', '.join(optional)} are optional.",
            field="file",
        )


def _csv_data_rows(reader, header: list[str], filename: str) -> Iterator[RawRow]:
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ApplicationError(
                f"{filename} could not be read as CSV at line {line}: {error}.", field="file"
            )
        if not any(value.strip() for value in values):
            continue  # blank line
        issues = []
        if len(values) > len(header):
            message = f"Row has {len(values)} values but the header has {len(header)} columns."
            issues.append(ImportIssue(line, None, message))
        # An exported catalog quotes formula-like cells with an apostrophe; it is not part of the value.
        row = {name: spreadsheet_cell_restore(value) for name, value in zip(header, values, strict=False)}
        for name, value in row.items():
            if len(value) > CSV_CELL_MAX_CHARS:
                message = (
                    f"{name} is {len(value):,} characters long; "
                    f"the limit for a cell is {CSV_CELL_MAX_CHARS:,}."
                )
                issues.append(ImportIssue(line, name, message))
        yield RawRow(line=line, values=row, issues=tuple(issues))


def _json_rows(text: str, filename: str) -> Iterator[RawRow]:
    try:
        document = json_input_loads(text)
    except json.JSONDecodeError as error:
        raise ApplicationError(
            f"{filename} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.",
            field="file",
        )
    except JSONInputError as error:
        raise ApplicationError(f"{filename} is not read: {error}", field="file")
    wrapped = isinstance(document, dict) and isinstance(document.get("products"), list)
    if not (isinstance(document, list) or wrapped):
        raise ApplicationError(
            f'{filename}: JSON must be a list of products or an object with a "products" list.', field="file"
        )
    items = document["products"] if wrapped else document
    lines = _json_item_lines(text, wrapped=wrapped) or []
    for index, item in enumerate(items):
        line = lines[index] if index < len(lines) else index + 1
        if not isinstance(item, dict):
            issue = ImportIssue(line, None, f"Product {index + 1} is not an object but {json_type(item)}.")
            yield RawRow(line=line, values={}, issues=(issue,), item=index + 1)
            continue
        values = {key.strip().lower(): value for key, value in item.items()}
        yield RawRow(line=line, values=values, nested_creatives=values.pop("creatives", None), item=index + 1)


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_item_lines(text: str, *, wrapped: bool) -> list[int] | None:
    """The line on which each product object starts, so JSON errors point at a line like CSV ones.

    Walks the (already validated) document with `raw_decode`; returns None if anything is odd.
    """
    decoder = json.JSONDecoder()

    def skip(index: int) -> int:
        return _JSON_SPACE.match(text, index).end()

    def array_start() -> int:
        index = skip(0)
        if not wrapped:
            return index
        index, start = skip(index + 1), None
        while text[index] != "}":
            key, index = decoder.raw_decode(text, index)
            index = skip(skip(index) + 1)  # past the colon
            if key == "products":
                start = index  # the last duplicate key wins, as in json.loads
            index = skip(decoder.raw_decode(text, index)[1])
            if text[index] == ",":
                index = skip(index + 1)
        return start

    try:
        index = skip(array_start() + 1)
        offsets = []
        while text[index] != "]":
            offsets.append(index)
            index = skip(decoder.raw_decode(text, index)[1])
            if text[index] == ",":
                index = skip(index + 1)
    except (ValueError, IndexError, TypeError):
        return None
    lines, line, previous = [], 1, 0
    for offset in offsets:
        line += text.count("\n", previous, offset)
        lines.append(line)
        previous = offset
    return lines


def json_type(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
