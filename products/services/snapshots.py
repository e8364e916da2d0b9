"""Dataset versions: immutable Parquet snapshots of the catalog, numbered 1, 2, 3…

A version is written once, under a name that carries its number and SHA-256, through Django's
storage API (which never overwrites: a taken name gets a suffix). Its row holds the SHA-256, the
counts, the split and the summary statistics that drift checks compare live traffic against.
Reading a version checks the SHA-256 first, so a training run never trains on a changed file.

The split (train / validation / test, 80/10/10) is a function of the sku alone, so a product keeps
its split in every version: a model evaluated on v7's test split never trained on those products
in v6.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction

from creativeops.core.errors import ApplicationError
from creativeops.core.numbering import number_next, numbered_create
from products import dataset_stats
from products.generator import DEFAULT_CHANNEL, TONES, GeneratedProduct, generate_catalog
from products.models import DatasetVersion
from products.ood import OOD_FIXTURE_PATH, OodProduct, load_ood_products, ood_fixture_sha256

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "sku", "title", "category", "brand", "description", "price", "rating",
    "split", "tone", "headline", "body", "cta", "channel",
)  # fmt: skip
"""The file's columns: one row per reference creative. `channel` (last, so that readers of the columns
before it by position are unchanged) is the ad channel whose limits the creative keeps: "generic" for
generic copy and for a product's row without creatives, never null."""
SNAPSHOT_SCHEMA = pa.schema(
    [
        *[(name, pa.string()) for name in ("sku", "title", "category", "brand", "description")],
        ("price", pa.float64()),
        ("rating", pa.float64()),
        *[(name, pa.string()) for name in ("split", "tone", "headline", "body", "cta")],
        ("channel", pa.string()),
    ]
)
_PRODUCT_COLUMNS = ("id", "sku", "title", "category", "brand", "description", "price", "rating")
_CREATIVE_COLUMNS = ("product_id", "tone", "headline", "body", "cta", "channel")
# The advisory lock (creativeops.core.locks) every process takes to number the next dataset version.
NUMBERING_LOCK_NAME = "products.DatasetVersion.number"


def split_for_sku(sku: str) -> str:
    """train / validation / test (80/10/10) from the SHA-256 of the sku: stable across versions,
    processes and Python's hash seed."""
    bucket = int.from_bytes(hashlib.sha256(sku.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


def generated_catalog_frame(count: int, seed: int) -> pd.DataFrame:
    """A frame shaped like a dataset version's file (SNAPSHOT_COLUMNS, the same sku-based split),
    one row per (product, channel, tone), built from the generator without touching the database:
    what the benchmarks and tests train on."""
    rows = []
    for product in generate_catalog(count, seed):
        fields = (
            product.sku, product.title, product.category, product.brand, product.description,
            float(product.price), float(product.rating), split_for_sku(product.sku),
        )  # fmt: skip
        rows += [(*fields, c.tone, c.headline, c.body, c.cta, c.channel) for c in product.creatives]
    return pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS))


# --------------------------------------------------------------------------------------------
# Creating versions
# --------------------------------------------------------------------------------------------


def dataset_version_create(
    *,
    trigger: str,
    actor=None,
    kind: str = DatasetVersion.Kind.TRAINING,
    note: str = "",
) -> DatasetVersion:
    """Snapshot the catalog (products with their reference creatives) as the next dataset version."""
    if kind == DatasetVersion.Kind.GOLDEN:
        return dataset_version_create_golden(actor=actor, trigger=trigger, note=note)
    if kind == DatasetVersion.Kind.OOD:
        return dataset_version_create_ood(actor=actor, trigger=trigger, note=note)
    if kind != DatasetVersion.Kind.TRAINING:
        raise ApplicationError(f"Unknown dataset kind '{kind}'.", field="kind")
    products, creatives = _catalog_tables()
    if products.num_rows == 0:
        raise ApplicationError(
            "The catalog is empty: generate or import products before cutting a dataset version."
        )
    products = products.append_column(
        "split", pa.array([split_for_sku(sku) for sku in products["sku"].to_pylist()])
    )
    return _version_write(
        snapshot=_Snapshot(products, creatives), kind=kind, trigger=trigger, actor=actor, note=note
    )


def dataset_version_create_golden(
    *,
    seed: int | None = None,
    size: int | None = None,
    actor=None,
    trigger: str = DatasetVersion.Trigger.SYSTEM,
    note: str = "",
) -> DatasetVersion:
    """The fixed evaluation set: `size` products for `seed` straight from the generator, never
    stored as products (so never trained on), every row in the test split.

    Idempotent: the existing golden version for this seed and size is returned when there is one.
    """
    seed = settings.CREATIVEOPS["GOLDEN_SET_SEED"] if seed is None else seed
    size = settings.CREATIVEOPS["GOLDEN_SET_SIZE"] if size is None else size
    if size < 1:
        raise ApplicationError(f"The golden set needs at least 1 product; got size {size}.", field="size")
    existing = _golden_version(seed, size)
    if existing is not None:
        return existing
    products, creatives = _generated_tables(generate_catalog(size, seed))
    products = products.append_column("split", pa.array(["test"] * products.num_rows, pa.string()))
    return _version_write(
        snapshot=_Snapshot(products, creatives, marker=("golden", {"seed": seed, "size": size})),
        kind=DatasetVersion.Kind.GOLDEN,
        trigger=trigger,
        actor=actor,
        note=note or f"Golden evaluation set: {size:,} generated products, seed {seed}.",
        existing=lambda: _golden_version(seed, size),
    )


def _golden_version(seed: int, size: int) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(
            kind=DatasetVersion.Kind.GOLDEN, statistics__golden__seed=seed, statistics__golden__size=size
        )
        .order_by("number")
        .first()
    )


OOD_EXTRA_COLUMNS: tuple[str, ...] = ("noun", "novelty")
"""Product columns an out-of-distribution version's file holds after SNAPSHOT_COLUMNS."""


def dataset_version_create_ood(
    *,
    path: Path = OOD_FIXTURE_PATH,
    actor=None,
    trigger: str = DatasetVersion.Trigger.SYSTEM,
    note: str = "",
) -> DatasetVersion:
    """The out-of-distribution evaluation set (`products/fixtures/ood_products.json`, see
    `products.ood`) as its own dataset version, every row in the test split.

    Never trained on, by construction rather than by a filter someone could forget: the version's
    file is written straight from the fixture's rows, like the golden set's from the generator, and
    its products are never stored as catalog `Product` rows (the catalog import refuses their `OOD-`
    skus), so no training snapshot (which reads the catalog tables) can ever contain them, and a
    training run refuses a version that is not of kind `training`. The file has one row per (product,
    tone) so that every product is scored in every tone; headline, body and cta are null, because the
    set has no reference copy: it is scored on the product's own facts, which `noun` and `novelty`
    (extra columns) describe.

    Idempotent: the version already written from a fixture with the same SHA-256 is returned.
    """
    products = load_ood_products(path=path)
    fixture_sha256 = ood_fixture_sha256(path=path)
    existing = _ood_version(fixture_sha256)
    if existing is not None:
        return existing
    product_table, creatives = _ood_tables(products)
    product_table = product_table.append_column("split", pa.array(["test"] * len(products), pa.string()))
    novelty_counts: dict[str, int] = {}
    for product in products:
        novelty_counts[product.novelty] = novelty_counts.get(product.novelty, 0) + 1
    return _version_write(
        snapshot=_Snapshot(
            product_table,
            creatives,
            marker=(
                "ood",
                {
                    "fixture": path.name,
                    "fixture_sha256": fixture_sha256,
                    "novelty_counts": dict(sorted(novelty_counts.items())),
                },
            ),
            extra_columns=OOD_EXTRA_COLUMNS,
        ),
        kind=DatasetVersion.Kind.OOD,
        trigger=trigger,
        actor=actor,
        note=note or f"Out-of-distribution evaluation set: {len(products):,} real-world products.",
        existing=lambda: _ood_version(fixture_sha256),
    )


def _ood_version(fixture_sha256: str) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(
            kind=DatasetVersion.Kind.OOD, statistics__ood__fixture_sha256=fixture_sha256
        )
        .order_by("number")
        .first()
    )


def _ood_tables(products: tuple[OodProduct, ...]) -> tuple[pa.Table, pa.Table]:
    product_rows = [
        (index, p.sku, p.title, p.category, p.brand, p.description, float(p.price), float(p.rating), p.noun,
         p.novelty)
        for index, p in enumerate(products)
    ]  # fmt: skip
    creative_rows = [
        (index, tone, None, None, None, DEFAULT_CHANNEL) for index in range(len(products)) for tone in TONES
    ]
    return (
        _rows_table(product_rows, (*_PRODUCT_COLUMNS, *OOD_EXTRA_COLUMNS)),
        _rows_table(creative_rows, _CREATIVE_COLUMNS),
    )


@dataclass(frozen=True)
class _Snapshot:
    """Product-level and creative-level columns; the file joins them (one row per creative).

    `marker` is a (key, value) stored in the statistics that finds an evaluation set's version again
    (the golden set's seed and size, the out-of-distribution fixture's SHA-256); `extra_columns` are
    product columns the file holds after SNAPSHOT_COLUMNS.
    """

    products: pa.Table  # id, sku, title, category, brand, description, price, rating, [extra], split
    creatives: pa.Table  # product_id, tone, headline, body, cta, channel
    marker: tuple[str, dict] | None = None
    extra_columns: tuple[str, ...] = ()

    def file_table(self) -> pa.Table:
        """One row per creative, ordered by sku, channel, tone; a product without creatives gets one
        row with null creative columns and the generic channel. Arranged with index arrays (no hash
        join, no string sort of the creatives); needs at least one product."""
        products = self.products.take(pc.sort_indices(self.products, sort_keys=[("sku", "ascending")]))
        product_ids = products["id"].to_numpy()
        creative_ids = self.creatives["product_id"].to_numpy()
        by_id = np.argsort(product_ids)
        position = np.clip(np.searchsorted(product_ids[by_id], creative_ids), 0, len(by_id) - 1)
        owner = by_id[position]  # index (in sku order) of each creative's product
        known = product_ids[owner] == creative_ids
        tone_rank, channel_rank = (_rank(self.creatives[name]) for name in ("tone", "channel"))
        creative_order = np.lexsort((tone_rank, channel_rank, owner))
        creative_order = creative_order[known[creative_order]]
        per_product = np.bincount(owner[known], minlength=len(product_ids))
        rows_per_product = np.maximum(per_product, 1)
        row_product = np.repeat(np.arange(len(product_ids)), rows_per_product)
        row_creative = np.full(len(row_product), -1, dtype="int64")
        row_creative[np.repeat(per_product > 0, rows_per_product)] = creative_order
        creative_rows = self.creatives.take(pa.array(row_creative, mask=row_creative < 0))
        product_rows = products.take(pa.array(row_product, pa.int64()))
        columns = {
            **{name: product_rows[name] for name in SNAPSHOT_COLUMNS[:8]},
            **{name: creative_rows[name] for name in ("tone", "headline", "body", "cta")},
            "channel": pc.fill_null(creative_rows["channel"], DEFAULT_CHANNEL),
            **{name: product_rows[name] for name in self.extra_columns},
        }
        schema = SNAPSHOT_SCHEMA
        for name in self.extra_columns:
            schema = schema.append(pa.field(name, pa.string()))
        return pa.table(columns).cast(schema)


def _rank(column: pa.ChunkedArray) -> np.ndarray:
    """Each value's position among the column's distinct values in sorted order: a sort key."""
    return pc.index_in(column, value_set=pc.unique(column).sort()).to_numpy(zero_copy_only=False)


def _version_write(
    *,
    snapshot: _Snapshot,
    kind: str,
    trigger: str,
    actor,
    note: str,
    existing: Callable[[], DatasetVersion | None] | None = None,
) -> DatasetVersion:
    table = snapshot.file_table()
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    payload = sink.getvalue()
    sha256 = hashlib.sha256(payload).hexdigest()
    statistics = _statistics(snapshot, rows=table.num_rows)
    fields = {
        "kind": kind,
        "sha256": sha256,
        "size_bytes": len(payload),
        "row_count": table.num_rows,
        "product_count": snapshot.products.num_rows,
        "split_counts": statistics["split_counts"],
        "statistics": statistics,
        "trigger": trigger,
        "created_by": actor if getattr(actor, "pk", None) else None,
        "note": note[:200],
    }
    version = numbered_create(
        lock_name=NUMBERING_LOCK_NAME,
        create=lambda: _number_and_store(payload, fields, existing),
        what="the dataset version",
    )
    logger.info("Dataset version %d written: %s", version.number, version.file)
    return version


def _number_and_store(
    payload: bytes, fields: dict, existing: Callable[[], DatasetVersion | None] | None
) -> DatasetVersion:
    """Under the numbering lock: the existing version if any, else max + 1, write the file once,
    insert the row (the unique number is the backstop)."""
    found = existing() if existing else None
    if found is not None:
        return found
    number = number_next(DatasetVersion.objects.all(), "number")
    name = default_storage.save(f"datasets/v{number}-{fields['sha256'][:12]}.parquet", ContentFile(payload))
    try:
        with transaction.atomic():
            return DatasetVersion.objects.create(number=number, file=name, **fields)
    except BaseException:
        default_storage.delete(name)
        raise


# --------------------------------------------------------------------------------------------
# Reading the catalog
# --------------------------------------------------------------------------------------------

# One statement, so products and creatives come from one consistent snapshot of the database even
# while imports or generation write: products first, then creatives, told apart by `kind`.
_CATALOG_SQL = """
SELECT 'p' AS kind, id, sku, title, category, brand, description, price, rating,
       NULL AS tone, NULL AS headline, NULL AS body, NULL AS cta, NULL AS channel
FROM products_product
UNION ALL
SELECT 'c', product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, tone, headline, body, cta, channel
FROM products_referencecreative
"""
_CATALOG_SQL_COLUMNS = ("kind", *_PRODUCT_COLUMNS, *_CREATIVE_COLUMNS[1:])
_CATALOG_TYPES = {
    "kind": pa.string(),
    "id": pa.int64(),
    **{name: pa.string() for name in ("sku", "title", "category", "brand", "description")},
    "price": pa.float64(),
    "rating": pa.float64(),
    **{name: pa.string() for name in ("tone", "headline", "body", "cta", "channel")},
}
FETCH_CHUNK = 10_000


def _catalog_tables() -> tuple[pa.Table, pa.Table]:
    table = _catalog_table_postgres() if connection.vendor == "postgresql" else _catalog_table_portable()
    is_product = pc.equal(table["kind"], "p")
    products = table.filter(is_product).select(list(_PRODUCT_COLUMNS))
    creatives = table.filter(pc.invert(is_product)).select(["id", *_CREATIVE_COLUMNS[1:]])
    return products, creatives.rename_columns(list(_CREATIVE_COLUMNS))


def _catalog_table_postgres() -> pa.Table:
    """COPY … TO STDOUT as CSV, parsed by Arrow's multithreaded reader: no Python object per value."""
    buffer = io.BytesIO()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({_CATALOG_SQL}) TO STDOUT (FORMAT CSV)") as copy,
    ):
        for block in copy:
            buffer.write(block)
    if buffer.tell() == 0:  # Arrow refuses an empty CSV
        return pa.table({name: pa.array([], _CATALOG_TYPES[name]) for name in _CATALOG_SQL_COLUMNS})
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=list(_CATALOG_SQL_COLUMNS), block_size=16 << 20),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=_CATALOG_TYPES,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )


def _catalog_table_portable() -> pa.Table:
    columns: dict[str, list] = {name: [] for name in _CATALOG_SQL_COLUMNS}
    appenders = [columns[name].append for name in _CATALOG_SQL_COLUMNS]
    with connection.chunked_cursor() as cursor:
        cursor.execute(_CATALOG_SQL)
        while rows := cursor.fetchmany(FETCH_CHUNK):
            for row in rows:
                for append, value in zip(appenders, row, strict=True):
                    append(value)
    for name in ("price", "rating"):
        columns[name] = [None if value is None else float(value) for value in columns[name]]
    return pa.table({name: pa.array(values, _CATALOG_TYPES[name]) for name, values in columns.items()})


def _generated_tables(products: Iterable[GeneratedProduct]) -> tuple[pa.Table, pa.Table]:
    product_rows, creative_rows = [], []
    for index, product in enumerate(products):
        product_rows.append(
            (index, product.sku, product.title, product.category, product.brand, product.description,
             float(product.price), float(product.rating))
        )  # fmt: skip
        creative_rows.extend((index, c.tone, c.headline, c.body, c.cta, c.channel) for c in product.creatives)
    return _rows_table(product_rows, _PRODUCT_COLUMNS), _rows_table(creative_rows, _CREATIVE_COLUMNS)


def _rows_table(rows: list[tuple], names: tuple[str, ...]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    types = {**_CATALOG_TYPES, "product_id": pa.int64(), **dict.fromkeys(OOD_EXTRA_COLUMNS, pa.string())}
    return pa.table(
        {name: pa.array(values, types[name]) for name, values in zip(names, columns, strict=True)}
    )


# --------------------------------------------------------------------------------------------
# Statistics (the drift baseline; shape documented in products/dataset_stats.py)
# --------------------------------------------------------------------------------------------


def _statistics(snapshot: _Snapshot, *, rows: int) -> dict:
    products, creatives = snapshot.products, snapshot.creatives
    split_counts = _value_counts(products["split"])
    brand_counts = _value_counts(products["brand"])
    sku_order = pc.sort_indices(products["sku"])
    titles, descriptions = products["title"].take(sku_order), products["description"].take(sku_order)
    statistics = {
        "schema": dataset_stats.STATISTICS_SCHEMA,
        "rows": rows,
        "products": products.num_rows,
        "creatives": creatives.num_rows,
        "split_counts": {split: split_counts.get(split, 0) for split in SPLITS},
        "category_shares": dataset_stats.shares_from_counts(_value_counts(products["category"])),
        "brand_count": len(brand_counts),
        "price": dataset_stats.numeric_summary(_floats(products["price"]), dataset_stats.PRICE_BUCKET_EDGES),
        "rating": dataset_stats.numeric_summary(_floats(products["rating"])),
        "title_length": _lengths(products["title"], dataset_stats.TITLE_LENGTH_EDGES),
        "description_length": _lengths(products["description"], dataset_stats.DESCRIPTION_LENGTH_EDGES),
        "headline_length": _lengths(creatives["headline"], dataset_stats.HEADLINE_LENGTH_EDGES),
        "tone_shares": dataset_stats.shares_from_counts(_value_counts(creatives["tone"])),
        "channel_counts": dict(sorted(_value_counts(creatives["channel"]).items())),
        "brands": dataset_stats.brands_summary(brand_counts),
        "vocabulary": dataset_stats.vocabulary_summary(titles, descriptions),
    }
    if snapshot.marker is not None:
        key, value = snapshot.marker
        statistics[key] = value
    return statistics


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    column = column.drop_null()
    if len(column) == 0:
        return {}
    return {item["values"]: item["counts"] for item in pc.value_counts(column).to_pylist()}


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return column.drop_null().to_numpy().astype("float64")


def _lengths(column: pa.ChunkedArray, edges) -> dict:
    lengths = pc.utf8_length(column.drop_null())
    return dataset_stats.length_summary(lengths.to_numpy().astype("float64"), edges)


# --------------------------------------------------------------------------------------------
# Reading versions
# --------------------------------------------------------------------------------------------


def dataset_version_file_bytes(*, version: DatasetVersion) -> bytes:
    """The version's file, after checking it is the very file that was written."""
    label = f"Dataset v{version.number} file {version.file}"
    if not default_storage.exists(version.file):
        pruned = f" (retention deleted it on {version.pruned_at:%Y-%m-%d})" if version.pruned_at else ""
        raise ApplicationError(
            f"{label} is missing from artifact storage{pruned}; v{version.number} recorded SHA-256 "
            f"{version.sha256}. Cut a new dataset version instead.",
            status_code=409,
        )
    with default_storage.open(version.file, "rb") as handle:
        payload = handle.read()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != version.sha256:
        raise ApplicationError(
            f"{label} has SHA-256 {actual} but v{version.number} recorded {version.sha256}; "
            "refusing to read a changed file.",
            status_code=409,
        )
    return payload


def dataset_version_read(*, version: DatasetVersion) -> pd.DataFrame:
    """The version as a DataFrame (columns SNAPSHOT_COLUMNS), after verifying its SHA-256."""
    payload = dataset_version_file_bytes(version=version)
    return pq.read_table(io.BytesIO(payload)).to_pandas()
