"""`manage.py benchmark_pages`: every case of the creatives page is measured and reported, in a sandbox
that leaves the real database alone."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inference.models import Creative
from products.models import Product

CASES = ("page 1 (title A-Z)", "page 400 (title A-Z)", "page 1, newest first", "search 'Willow Gate'")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_benchmark_reports_every_case_with_its_queries_and_rows(on_postgres):
    # PostgreSQL: the sandbox is a second test database, which pytest's in-memory SQLite cannot nest.
    out = StringIO()

    call_command("benchmark_pages", "--products", "1000", "--runs", "5", stdout=out, stderr=StringIO())

    text = out.getvalue()
    rows = {
        match["label"].strip(): (int(match["queries"]), int(match["rows"]))
        for match in re.finditer(
            r"^(?P<label>.+?)(\s+[\d.]+){3}\s+(?P<queries>\d+)\s+(?P<rows>\d+)\s+(PASS|FAIL)$", text, re.M
        )
    }
    assert set(rows) == {*CASES, "Garden + bold"}, text
    assert {shown for _, shown in rows.values()} == {25}
    # Every case costs the same queries, but a search one fewer: it reads its matches once for the
    # count and the page (CappedPaginator's ids_at_once).
    listing = {queries for label, (queries, _) in rows.items() if not label.startswith("search")}
    assert len(listing) == 1, rows
    assert rows["search 'Willow Gate'"][0] == listing.pop() - 1, rows
    assert "1,000 products x 4 tones" in text
    assert not Product.objects.exists() and not Creative.objects.exists()  # the sandbox is gone


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--products", "999"], "--products must be from 1,000 to 200,000."),
        (["--runs", "4"], "--runs must be from 5 to 500."),
    ],
)
def test_benchmark_refuses_sizes_out_of_range(arguments, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("benchmark_pages", *arguments, stdout=StringIO())
