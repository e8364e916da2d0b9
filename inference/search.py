"""The creatives page's search, "product title or headline contains the text, whatever the case", read
from an index on both databases instead of a `LIKE '%…%'` over every creative of a model version.

* PostgreSQL: trigram GIN indexes on `UPPER(title)` (migration `products.0002`) and on the current
  creatives' `UPPER(headline)` (`inference.0003`), the expressions Django's `icontains` writes. The
  matching products' ids go in as an array (`product_id = ANY(ARRAY(…))`), so the planner ORs two
  bitmap index scans on the creatives table; an `IN (subquery)` or a condition on the joined title
  would make it filter every row of the version instead.
* SQLite: an FTS5 table with the trigram tokenizer over the creatives' headlines
  (`HEADLINE_FTS_TABLE`, kept by triggers), and the matching creatives gathered as one `UNION ALL` of
  ids that SQLite walks by primary key. A text shorter than three characters has no trigram, so it
  falls back to `LIKE` over the version's rows. The table and its triggers are made after every
  `migrate` (`headline_search_index_ensure`, on `post_migrate`), not in a migration: Django rebuilds
  a SQLite table for most field changes, which drops its triggers.
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
_CREATIVES = Creative._meta.db_table
_SQLITE_TRIGGERS = {
    "insert": f"AFTER INSERT ON {_CREATIVES} BEGIN "
    f"INSERT INTO {HEADLINE_FTS_TABLE}(rowid, headline) VALUES (new.id, new.headline); END",
    "delete": f"AFTER DELETE ON {_CREATIVES} BEGIN "
    f"INSERT INTO {HEADLINE_FTS_TABLE}({HEADLINE_FTS_TABLE}, rowid, headline) "
    "VALUES ('delete', old.id, old.headline); END",
    "update": f"AFTER UPDATE OF headline ON {_CREATIVES} BEGIN "
    f"INSERT INTO {HEADLINE_FTS_TABLE}({HEADLINE_FTS_TABLE}, rowid, headline) "
    "VALUES ('delete', old.id, old.headline); "
    f"INSERT INTO {HEADLINE_FTS_TABLE}(rowid, headline) VALUES (new.id, new.headline); END",
}


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


def headline_search_index_ensure(*, using: str = "default", **_signal_arguments) -> None:
    """SQLite: create the headline FTS table (filled from the creatives) and its triggers where they
    are missing. A `post_migrate` receiver (see `InferenceConfig.ready`); nothing on PostgreSQL."""
    from django.db import connections

    database = connections[using]
    if database.vendor != "sqlite" or _CREATIVES not in database.introspection.table_names():
        return
    triggers = {f"{HEADLINE_FTS_TABLE}_{event}": body for event, body in _SQLITE_TRIGGERS.items()}
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [_CREATIVES]
        )
        missing = set(triggers) - {name for (name,) in cursor.fetchall()}
        if not missing:
            return
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {HEADLINE_FTS_TABLE} USING fts5(headline, "
            f"content='{_CREATIVES}', content_rowid='id', tokenize='trigram')"
        )
        for name in sorted(missing):
            cursor.execute(f"CREATE TRIGGER {name} {triggers[name]}")
        # Rows written while a trigger was missing are not in the index: read every headline again.
        cursor.execute(f"INSERT INTO {HEADLINE_FTS_TABLE}({HEADLINE_FTS_TABLE}) VALUES ('rebuild')")
