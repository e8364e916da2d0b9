"""The creatives page's search, "product title or headline contains the text, whatever the case", read
from an index on both databases instead of a `LIKE '%…%'` over every creative of a model version.

* PostgreSQL: trigram GIN indexes on `UPPER(title)` (migration `products.0002`) and on the current
  creatives' `UPPER(headline)` (`inference.0003`), the expressions Django's `icontains` writes. The
  matching products' ids go in as an array (`product_id = ANY(ARRAY(…))`), so the planner ORs two
  bitmap index scans on the creatives table; an `IN (subquery)` or a condition on the joined title
  would make it filter every row of the version instead.
* SQLite: an FTS5 table with the trigram tokenizer over the creatives' headlines
  (`HEADLINE_FTS_TABLE`, kept by triggers written in `inference.0003`), and the matching creatives
  gathered as one `UNION ALL` of ids that SQLite walks by primary key. A text shorter than three
  characters has no trigram, so it falls back to `LIKE` over the version's rows.
"""

from __future__ import annotations

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import BooleanField, F, Func, Q
from django.db.models.expressions import RawSQL

from inference.models import Creative
from products.models import Product
from registry.models import ModelVersion

HEADLINE_FTS_TABLE = "inference_creative_headline_fts"
TRIGRAM = 3


class _EqualsAny(Func):
    """`column = ANY(array)` (PostgreSQL), which an index scan can take as its condition."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def creative_search_condition(*, text: str, model_version: ModelVersion) -> Q:
    """The condition on `Creative` rows of `model_version` whose product title or own headline
    contains `text`, ignoring case."""
    titles = Product.objects.filter(title__icontains=text).order_by().values("id")
    if connection.vendor == "postgresql":
        return Q(_EqualsAny(F("product_id"), ArraySubquery(titles))) | Q(headline__icontains=text)
    if len(text) < TRIGRAM:
        return Q(product_id__in=titles) | Q(headline__icontains=text)
    by_title = (
        Creative.objects.current()
        .filter(model_version=model_version, product_id__in=titles)
        .order_by()
        .values("id")
    )
    title_sql, title_params = by_title.query.sql_with_params()
    return Q(
        # Every value is a parameter: the SQL text is the compiled queryset's and this module's own.
        id__in=RawSQL(  # noqa: S611
            f"{title_sql} UNION ALL "
            f"SELECT rowid FROM {HEADLINE_FTS_TABLE} WHERE {HEADLINE_FTS_TABLE} MATCH %s",
            (*title_params, _fts_phrase(text)),
        )
    )


def _fts_phrase(text: str) -> str:
    """`text` as one FTS5 string (a substring query for the trigram tokenizer), operators inert."""
    return '"' + text.replace('"', '""') + '"'
