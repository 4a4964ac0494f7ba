"""Erasure on the Spark engine: `journey forget --engine spark`, applied by the next `journey run --engine spark`.

The DuckDB pipeline erases a person in its build file (orchestration/lib/privacy.py `apply_erasures`). On Spark the
raw history lives in Spark's tables and the identity state in the published generation, so the same erasure is
split in two (docs/privacy.md "On the Spark engine"):

1. **In Spark** (`erase`, a step of its own before ingestion: `python -m orchestration.spark_steps erase`): from
   the pending requests of the suppression list beside the books (`books.duckdb.suppressions.jsonl`), the person's
   customers, identifier values and records are found in the published generation exactly as on DuckDB (the id
   map's nodes whose keyed hash is listed, their customer ids and the ids merged into them, their records). Then:
   - every row of `raw.<source>` of those records or carrying a listed identifier (the same normalisation and keyed
     hash as ingestion's suppression), and every row of `quarantine.<source>` of them or holding one of their values,
     is removed: the loads (partitions) they are in are rewritten without them;
   - the published generation's customer-id map and merge log, which the next build carries on, lose every row
     holding one of the person's values.
   The keys of the removed rows (source, file, row number, load: no personal data) go to the Spark table
   `privacy.erased_rows` before anything is removed, so a run killed half-way still counts them in the books when
   it is run again.
2. **In the books** (`apply_to_books`, in the run's ingestion step): the person's identifier hashes join
   `ops.suppressions` (no later delivery loads them), and the books of the files the rows came from count them as
   suppressed instead of loaded or quarantined (rows read = loaded + quarantined + suppressed, as on DuckDB).

Every Spark run rebuilds its models from the raw tables, so the new generation holds nothing of the person. Once
it is published, every other generation (the previous published one, kept for rollback, holds the person) is
dropped, and `ops.erasures` records each request in the books (`record_in_books`). Until then the request stays
pending, and a run that failed is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.privacy import (
    ID_MAP,
    MERGES,
    RECORD_CUSTOMERS,
    SOURCE_IDENTIFIERS,
    PrivacyError,
    SuppressionEntry,
    count_erased_rows,
    ensure_privacy_tables,
    key_path,
    node_hash,
    normalised_sql,
    pending_erasures,
    privacy_key,
    read_suppressions,
    suppressions_path,
    sync_suppressions,
)
from rules.contract import SOURCES

ERASED_ROWS = "privacy.erased_rows"  # Spark: the keys of the rows an erasure removes
BOOKS_ERASED_ROWS = "ops.erased_rows"  # books: the keys already counted as suppressed
LOAD = "_load_id"
MAX_MERGE_HOPS = 20  # as apply_erasures


@dataclass
class SparkErasure:
    """What the Spark step found and removed for the pending requests (no personal data: hashes and row keys)."""

    requests: list[str] = field(default_factory=list)
    customers: int = 0
    identifiers: int = 0
    node_hashes: list[str] = field(default_factory=list)
    rows_removed: dict[str, int] = field(default_factory=dict)
    erased_rows: list[list[Any]] = field(default_factory=list)  # [source, _source_file, _row_number, kind]

    @property
    def total(self) -> int:
        return sum(self.rows_removed.values())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SparkErasure:
        return cls(**data)


def pending_requests(books: Path) -> list[SuppressionEntry]:
    """The requests of the suppression list beside the books that no published generation has applied yet."""
    return pending_erasures(books)


# ------------------------------------------------------------------------------------------ in Spark
def erase(spark_warehouse: Path, books: Path) -> dict[str, Any]:
    """The Spark half of the pending erasures (see the module's docstring); returns a SparkErasure as a dict."""
    from orchestration.lib.spark_session import spark_session
    from orchestration.spark_steps import generations

    pending = pending_requests(books)
    if not pending:
        return SparkErasure().__dict__
    key = privacy_key(books, create=False)
    if key is None:
        raise PrivacyError(f"{suppressions_path(books)} lists erasures but the privacy key is missing "
                           f"(JOURNEY_PRIVACY_KEY, or {key_path(books)}): restore it")
    requests = [e.request_id for e in pending]
    spark = spark_session(spark_warehouse)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    # the loads to rewrite are found by Spark: the Derby metastore cannot parse a partition filter on `_load_id`
    spark.conf.set("spark.sql.hive.metastorePartitionPruning", "false")
    try:
        published = generations(spark_warehouse)["published"]
        person = _find_person(spark, key, {h for e in pending for h in e.hashes}, published)
        listed = _listed_hashes(books) | {h for e in read_suppressions(books) for h in e.hashes} | set(person.hashes)
        found = _find_rows(spark, key, listed, person)
        found = found.localCheckpoint() if found is not None else None  # read before anything is removed
        _remember(spark, found, requests)
        removed = _remove_rows(spark, found)
        removed |= _clean_carried_state(spark, published, person.values)
        erased_rows = _remembered(spark, requests)
    finally:
        spark.stop()
    return SparkErasure(requests, len(person.customers), len(person.nodes), sorted(person.hashes), removed,
                        erased_rows).__dict__


@dataclass
class _Person:
    customers: set[str]
    nodes: set[str]
    records: set[tuple[str, str]]
    hashes: set[str]  # keyed hashes of every node, and of the customer ids they belong to

    @property
    def values(self) -> set[str]:
        """The person's values as text (as apply_erasures' _erase_values): node ids and their values, customer
        ids, record ids."""
        values = self.nodes | {n.split(":", 1)[1] for n in self.nodes if ":" in n} | self.customers
        values |= {record_id for _, record_id in self.records}
        return {v for v in values if v}


def _table(spark, qualified: str, generation: int | None):
    """A table of the published generation (`intermediate.x` -> `intermediate__g7.x`), or None."""
    from orchestration.lib.spark_session import in_generation

    if generation is None:
        return None
    name = in_generation(qualified, generation)
    return spark.table(name) if spark.catalog.tableExists(name) else None


def _find_person(spark, key: str, hashes: set[str], generation: int | None) -> _Person:
    """The person's customers, nodes and records in the published generation (apply_erasures' first step)."""
    from pyspark.sql import functions as F

    def keyed(expression):
        return F.sha2(F.concat(F.lit(key + "|"), expression), 256)

    customers: set[str] = set()
    current: set[str] = set()
    nodes: set[str] = set()
    records: set[tuple[str, str]] = set()
    id_map = _table(spark, ID_MAP, generation)
    merges = _table(spark, MERGES, generation)
    listed = list(hashes)
    if id_map is not None:
        customers = _values(id_map.where(
            keyed(F.col("node_id")).isin(listed)
            | keyed(F.concat(F.lit("customer_id:"), F.col("customer_id"))).isin(listed)
            | keyed(F.concat(F.lit("customer_id:"), F.col("first_customer_id"))).isin(listed)), "customer_id")
        if merges is not None:  # the ids they were merged into
            frontier = set(customers)
            for _ in range(MAX_MERGE_HOPS):
                new = _values(merges.where(F.col("old_customer_id").isin(sorted(frontier))), "new_customer_id")
                frontier = new - customers
                if not frontier:
                    break
                customers |= frontier
        current = set(customers)  # as `journey forget` on DuckDB lists them: their customer ids are listed too
        nodes = _values(id_map.where(
            F.col("customer_id").isin(sorted(customers)) | F.col("first_customer_id").isin(sorted(customers))
            | keyed(F.col("node_id")).isin(listed)), "node_id")
        if merges is not None:  # the ids merged or re-keyed into theirs, at any remove, then every old id of them
            frontier = set(customers)
            for _ in range(MAX_MERGE_HOPS):
                old = _values(merges.where(F.col("change_type").isin("merge", "rekey")
                                           & F.col("new_customer_id").isin(sorted(frontier))), "old_customer_id")
                frontier = old - customers
                if not frontier:
                    break
                customers |= frontier
            customers |= _values(merges.where(F.col("new_customer_id").isin(sorted(customers))), "old_customer_id")
    record_customers = _table(spark, RECORD_CUSTOMERS, generation)
    if record_customers is not None and customers:
        records = {(r[0], r[1]) for r in record_customers.where(F.col("customer_id").isin(sorted(customers)))
                   .select("source_name", "record_id").distinct().collect()}
    hashes = {node_hash(key, n) for n in nodes | {f"customer_id:{c}" for c in current}}
    return _Person(customers, nodes, records, hashes)


def _values(frame, column: str) -> set[str]:
    return {r[0] for r in frame.select(column).distinct().collect() if r[0]}


def _listed_hashes(books: Path) -> set[str]:
    """Every hash the books' suppression table holds (earlier erasures' nodes included)."""
    if not books.exists():
        return set()
    con = duckdb.connect(str(books), read_only=True)
    try:
        return {r[0] for r in con.execute("select hash from ops.suppressions").fetchall()}
    except duckdb.CatalogException:
        return set()
    finally:
        con.close()


def _find_rows(spark, key: str, listed: set[str], person: _Person):
    """The keys of the raw and quarantined rows to remove: (source, kind, _source_file, _row_number, _load_id)."""
    from pyspark.sql import functions as F

    listed_list = sorted(listed)
    values = sorted(person.values)
    long_values = [v.lower() for v in values if len(v) >= 6]
    found = None
    for name, source in SOURCES.items():
        record_ids = sorted(r for s, r in person.records if s == name)
        for kind in ("raw", "quarantine"):
            table = f"{kind}.{name}"
            if not spark.catalog.tableExists(table):
                continue
            frame = spark.table(table)
            columns = set(frame.columns)
            if kind == "raw":
                fields = {c: F.col(c) for c in {source.key, *SOURCE_IDENTIFIERS[name]} if c in columns}
            else:  # the quarantined record's fields, as apply_erasures reads them
                fields = {c: F.get_json_object(F.col("_record"), f"$.{c}")
                          for c in {source.key, *SOURCE_IDENTIFIERS[name]}}
                frame = frame.select("*", *(value.alias(f"_erase_{c}") for c, value in fields.items()))
                fields = {c: F.col(f"_erase_{c}") for c in fields}
            condition = F.lit(False)
            if record_ids and source.key in fields:
                condition = condition | F.coalesce(fields[source.key].cast("string").isin(record_ids), F.lit(False))
            for column, node_type in SOURCE_IDENTIFIERS[name].items():
                if column in fields:
                    normalised = normalised_sql(node_type, f"`_erase_{column}`" if kind == "quarantine"
                                                else f"`{column}`", dialect="spark")
                    hashed = F.sha2(F.concat(F.lit(f"{key}|{node_type}:"), F.expr(normalised)), 256)
                    condition = condition | F.coalesce(hashed.isin(listed_list), F.lit(False))
            if kind == "quarantine" and long_values:
                text = F.lower(F.col("_record"))
                for value in long_values:
                    condition = condition | F.coalesce(F.instr(text, value) > 0, F.lit(False))
            rows = frame.where(condition).select(
                F.lit(name).alias("source"), F.lit(kind).alias("kind"), "_source_file", "_row_number", LOAD)
            found = rows if found is None else found.unionByName(rows)
    return found


def _remember(spark, found, requests: list[str]) -> None:
    """Append the found rows' keys to privacy.erased_rows (those it does not hold yet), before they are removed."""
    from pyspark.sql import functions as F

    if found is None:
        return
    spark.sql("create database if not exists privacy")
    if not spark.catalog.tableExists(ERASED_ROWS):
        spark.sql(f"create table {ERASED_ROWS} (source string, kind string, _source_file string, _row_number bigint, "
                  f"{LOAD} string, requests string) using parquet")
    keys = ["source", "kind", "_source_file", "_row_number", LOAD]
    new = found.join(spark.table(ERASED_ROWS).select(*keys), keys, "left_anti").distinct()
    new = new.withColumn("requests", F.lit(",".join(sorted(requests)))).localCheckpoint()
    if new.count():
        new.select(*keys, "requests").write.insertInto(ERASED_ROWS)


def _remembered(spark, requests: list[str]) -> list[list[Any]]:
    """The removed rows of these requests (this attempt's and an earlier, interrupted one's), for the books."""
    from pyspark.sql import functions as F

    if not spark.catalog.tableExists(ERASED_ROWS):
        return []
    wanted = F.arrays_overlap(F.split(F.col("requests"), ","), F.array(*(F.lit(r) for r in requests)))
    return [[r[0], r[1], r[2], r[3]] for r in spark.table(ERASED_ROWS).where(wanted)
            .select("source", "_source_file", "_row_number", "kind").distinct().collect()]


def _remove_rows(spark, found) -> dict[str, int]:
    """Rewrite the loads holding found rows without them (a load left empty loses its partition)."""
    from pyspark.sql import functions as F

    removed: dict[str, int] = {}
    if found is None:
        return removed
    for (name, kind) in found.select("source", "kind").distinct().collect():
        table = f"{kind}.{name}"
        keys = found.where((F.col("source") == name) & (F.col("kind") == kind)).select(
            "_source_file", "_row_number", LOAD).distinct().localCheckpoint()
        loads = sorted(r[0] for r in keys.select(LOAD).distinct().collect())
        scratch = f"{kind}.{name}__erasing"
        spark.sql(f"drop table if exists {scratch}")
        rows = spark.table(table).where(F.col(LOAD).isin(loads))
        keep = rows.join(keys, ["_source_file", "_row_number", LOAD], "left_anti").select(*spark.table(table).columns)
        keep.write.format("parquet").saveAsTable(scratch)
        before = rows.count()
        kept_loads = {r[0] for r in spark.table(scratch).select(LOAD).distinct().collect()}
        spark.sql(f"insert overwrite table {table} partition ({LOAD}) select * from {scratch}")
        for load in set(loads) - kept_loads:
            spark.sql(f"alter table {table} drop if exists partition ({LOAD} = '{load}')")
        removed[table] = before - spark.table(scratch).count()
        spark.sql(f"drop table {scratch}")
    return {t: n for t, n in removed.items() if n}


def _clean_carried_state(spark, generation: int | None, values: set[str]) -> dict[str, int]:
    """The published generation's id map and merge log, which the next build carries on, without the person."""
    from pyspark.sql import functions as F

    from orchestration.lib.spark_session import in_generation

    removed: dict[str, int] = {}
    if generation is None or not values:
        return removed
    wanted = sorted(values)
    for qualified in (ID_MAP, MERGES):
        name = in_generation(qualified, generation)
        if not spark.catalog.tableExists(name):
            continue
        frame = spark.table(name)
        text = [f.name for f in frame.schema.fields if f.dataType.simpleString() == "string"]
        holds = F.lit(False)
        for column in text:
            holds = holds | F.coalesce(F.col(column).isin(wanted), F.lit(False))
        count = frame.where(holds).count()
        if not count:
            continue
        scratch = f"{name}__erasing"
        spark.sql(f"drop table if exists {scratch}")
        frame.where(~holds).write.format("parquet").saveAsTable(scratch)
        spark.sql(f"insert overwrite table {name} select * from {scratch}")
        spark.sql(f"drop table {scratch}")
        removed[qualified] = count
    return removed


# ------------------------------------------------------------------------------------------ in the books
def apply_to_books(con: duckdb.DuckDBPyConnection, books: Path, erasure: SparkErasure | None) -> None:
    """The books' half, on the run's books build file before ingestion: the suppression list into
    ops.suppressions (every run: ingestion drops rows carrying a listed identifier), the person's node hashes with
    it, and the removed rows counted as suppressed in the books of their files (each row once)."""
    entries = read_suppressions(books)
    if not entries:
        return
    sync_suppressions(con, entries)
    if erasure is None or not erasure.requests:
        return
    first = next(e for e in entries if e.request_id == erasure.requests[0])
    con.execute("insert into ops.suppressions select distinct h, ?, ? from (select unnest(?::varchar[]) as h) "
                "where h not in (select hash from ops.suppressions)",
                [first.request_id, datetime.fromisoformat(first.requested_at).replace(tzinfo=None),
                 erasure.node_hashes])
    con.execute(f"create table if not exists {BOOKS_ERASED_ROWS} (source VARCHAR, _source_file VARCHAR, "
                "_row_number BIGINT, kind VARCHAR)")
    con.execute("create or replace temp table _erased_rows (source varchar, _source_file varchar, "
                "_row_number bigint, kind varchar)")
    if erasure.erased_rows:
        columns = list(zip(*erasure.erased_rows, strict=True))
        con.execute("insert into _erased_rows select distinct * from (select unnest(?::varchar[]), "
                    "unnest(?::varchar[]), unnest(?::bigint[]), unnest(?::varchar[])) "
                    f"except select * from {BOOKS_ERASED_ROWS}", [list(c) for c in columns])
    con.execute(f"insert into {BOOKS_ERASED_ROWS} select * from _erased_rows")
    con.execute("delete from ops.field_issues f where exists (select 1 from _erased_rows e where e.kind = 'raw' "
                "and e.source = f.source and e._source_file = f._source_file and e._row_number = f._row_number)")
    count_erased_rows(con)
    con.execute("drop table _erased_rows")


def record_in_books(books: Path, erasure: SparkErasure, run_id: str) -> list[tuple[str, int]]:
    """After the generation that applied them is published: each request into ops.erasures (then not pending)."""
    entries = {e.request_id: e for e in read_suppressions(books)}
    now = datetime.now(UTC).replace(tzinfo=None)
    con = duckdb.connect(str(books))
    try:
        ensure_privacy_tables(con)
        for request_id in erasure.requests:
            requested = datetime.fromisoformat(entries[request_id].requested_at).replace(tzinfo=None)
            con.execute("insert into ops.erasures values (?, ?, ?, ?, ?, ?, map(?::varchar[], ?::bigint[]), ?)",
                        [request_id, requested, now, erasure.customers, erasure.identifiers, erasure.total,
                         list(erasure.rows_removed), list(erasure.rows_removed.values()), run_id])
        con.execute("checkpoint")
    finally:
        con.close()
    return [(r, erasure.total) for r in erasure.requests]

