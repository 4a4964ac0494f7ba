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
   - the published generation's customer-id map and merge log, which the new build carries on, are copied without
     every row holding one of the person's values into `intermediate__erasure` and `marts__erasure`, which the
     run's dbt build reads instead (the published generation is only read, so a second attempt finds the person
     again).
   The keys of the removed rows (source, file, row number, load: no personal data) go to the Spark table
   `privacy.erased_rows` before anything is removed, so a run killed half-way still counts them in the books when
   it is run again.
2. **In the books** (`apply_to_books`, in the run's ingestion step): the person's identifier hashes join
   `ops.suppressions` (no later delivery loads them), and the books of the files the rows came from count them as
   suppressed instead of loaded or quarantined (rows read = loaded + quarantined + suppressed, as on DuckDB).

Every Spark run rebuilds its models from the raw tables, so the new generation holds nothing of the person. Once
it is published, every other generation (the previous published one, kept for rollback, holds the person) is
dropped, so are the `__erasure` copies, and `ops.erasures` records each request in the books (`record_in_books`).
Until then the request stays pending, and a run that failed is simply run again.
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


# ------------------------------------------------------------------------------------------ in Spark
CARRIED_SUFFIX = "__erasure"  # the schemas of the carried id map and merge log without the person (JOURNEY_SPARK_PREVIOUS_SUFFIX)
SCRATCH = "__erasing"  # a raw or quarantine table's kept rows of the loads being rewritten
LOADS_PROPERTY = "journey.erasure.loads"  # on a scratch table: the loads it rewrites (set once it is complete)


def erase(spark_warehouse: Path, books: Path) -> dict[str, Any]:
    """The Spark half of the pending erasures (see the module's docstring); returns a SparkErasure as a dict.

    Idempotent, so a run killed anywhere is simply run again: the published generation is only read (the carried
    state without the person is written beside it, in the schemas `intermediate__erasure` and `marts__erasure`),
    so a second attempt finds the person again; the removed rows' keys are kept in privacy.erased_rows before any
    is removed; a load's rewrite goes through a scratch table holding its kept rows, which a second attempt finishes
    first. The privacy key and the person's values reach Spark as rows of small tables joined to the data, never as
    literals of a plan (which error messages print)."""
    from orchestration.lib.spark_session import generations, spark_session

    pending = pending_erasures(books)
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
        for table in _scratch_tables(spark):  # a rewrite a killed attempt left half done
            _finish_rewrite(spark, table)
        published = generations(spark_warehouse)["published"]
        keyed = _Keyed(spark, key)
        person = _find_person(spark, keyed, {h for e in pending for h in e.hashes}, published)
        listed = _listed_hashes(books) | {h for e in read_suppressions(books) for h in e.hashes} | set(person.hashes)
        found = _find_rows(spark, keyed, listed, person)
        _remember(spark, found, requests)
        _remove_rows(spark, requests)
        carried = _carry_state(spark, published, person.values)
        erased_rows, removed = _remembered(spark, requests)
    finally:
        spark.stop()
    return SparkErasure(requests, len(person.customers), len(person.nodes), sorted(person.hashes),
                        removed | carried, erased_rows).__dict__


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


class _Keyed:
    """The keyed hash (privacy.node_hash: sha256 of `key|node id`) in Spark, with the key as a one-row table."""

    def __init__(self, spark, key: str):
        from pyspark.sql import functions as F

        self.F = F
        self.key = F.broadcast(spark.createDataFrame([(key,)], "_erase_key string"))
        self.spark = spark
        self._secret = key

    def hash(self, node_id: str) -> str:
        """A node's keyed hash, worked out here (a hash is no personal data: it goes into the books' list)."""
        return node_hash(self._secret, node_id)

    def matching(self, frame, node_id, hashes: set[str]):
        """The rows of `frame` whose node id (a Column) hashes to one of `hashes`."""
        F = self.F
        listed = F.broadcast(self.spark.createDataFrame([(h,) for h in sorted(hashes)] or [("",)], "_erase_hash string"))
        hashed = frame.crossJoin(self.key).withColumn(
            "_erase_hashed", F.sha2(F.concat(F.col("_erase_key"), F.lit("|"), node_id), 256))
        return hashed.join(listed, F.col("_erase_hashed") == F.col("_erase_hash"), "left_semi").select(*frame.columns)


def _table(spark, qualified: str, generation: int | None):
    """A table of the published generation (`intermediate.x` -> `intermediate__g7.x`), or None."""
    from orchestration.lib.spark_session import in_generation

    if generation is None:
        return None
    name = in_generation(qualified, generation)
    return spark.table(name) if spark.catalog.tableExists(name) else None


def _find_person(spark, keyed: _Keyed, hashes: set[str], generation: int | None) -> _Person:
    """The person's customers, nodes and records in the published generation (apply_erasures' first step; a
    customer id given is found as DuckDB's `journey forget` finds it: current, first, or retired by a merge)."""
    from pyspark.sql import functions as F

    customers: set[str] = set()
    current: set[str] = set()
    nodes: set[str] = set()
    records: set[tuple[str, str]] = set()
    id_map = _table(spark, ID_MAP, generation)
    merges = _table(spark, MERGES, generation)
    if id_map is not None:
        customers = _values(keyed.matching(id_map, F.col("node_id"), hashes), "customer_id")
        for column in ("customer_id", "first_customer_id"):
            customers |= _values(keyed.matching(id_map, F.concat(F.lit("customer_id:"), F.col(column)), hashes),
                                 "customer_id")
        if merges is not None:  # an old id given, and the ids they were all merged into
            frontier = customers | _values(keyed.matching(
                merges, F.concat(F.lit("customer_id:"), F.col("old_customer_id")), hashes), "old_customer_id")
            customers |= frontier
            for _ in range(MAX_MERGE_HOPS):
                new = _values(merges.where(F.col("old_customer_id").isin(sorted(frontier))), "new_customer_id")
                frontier = new - customers
                if not frontier:
                    break
                customers |= frontier
        current = set(customers)  # as `journey forget` on DuckDB lists them: their customer ids are listed too
        nodes = _values(id_map.where(F.col("customer_id").isin(sorted(customers))
                                     | F.col("first_customer_id").isin(sorted(customers))), "node_id")
        nodes |= _values(keyed.matching(id_map, F.col("node_id"), hashes), "node_id")
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
    hashes = {keyed.hash(n) for n in nodes | {f"customer_id:{c}" for c in current}}
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


def _find_rows(spark, keyed: _Keyed, listed: set[str], person: _Person):
    """The keys of the raw and quarantined rows to remove: (source, kind, _source_file, _row_number, _load_id)."""
    from pyspark.sql import functions as F

    keys = ["_source_file", "_row_number", LOAD]
    records = F.broadcast(spark.createDataFrame(sorted(person.records) or [("", "")],
                                                "_erase_source string, _erase_record string"))
    values = F.broadcast(spark.createDataFrame([(v.lower(),) for v in sorted(person.values) if len(v) >= 6]
                                               or [("\u0000" * 6,)], "_erase_value string"))
    found = None
    for name, source in SOURCES.items():
        for kind in ("raw", "quarantine"):
            table = f"{kind}.{name}"
            if not spark.catalog.tableExists(table):
                continue
            frame = spark.table(table)
            columns = {source.key, *SOURCE_IDENTIFIERS[name]}
            if kind == "raw":
                columns &= set(frame.columns)
                fields = frame.select(*keys, *(F.col(c).cast("string").alias(f"_erase_{c}") for c in columns))
            else:  # the quarantined record's fields, as apply_erasures reads them
                fields = frame.select(*keys, *(F.get_json_object(F.col("_record"), f"$.{c}").alias(f"_erase_{c}")
                                               for c in columns))
            parts = []
            if source.key in columns:  # the person's records
                parts.append(fields.join(records.where(F.col("_erase_source") == name),
                                         F.col(f"_erase_{source.key}") == F.col("_erase_record"), "left_semi"))
            for column, node_type in SOURCE_IDENTIFIERS[name].items():  # a listed identifier, however spelled
                if column in columns:
                    normalised = F.expr(normalised_sql(node_type, f"`_erase_{column}`", dialect="spark"))
                    parts.append(keyed.matching(fields, F.concat(F.lit(f"{node_type}:"), normalised), listed))
            if kind == "quarantine":  # a record whose text holds one of their values
                text = frame.select(*keys, F.lower(F.col("_record")).alias("_erase_text"))
                parts.append(text.join(values, F.instr(F.col("_erase_text"), F.col("_erase_value")) > 0, "left_semi"))
            for part in parts:
                rows = part.select(F.lit(name).alias("source"), F.lit(kind).alias("kind"), *keys)
                found = rows if found is None else found.unionByName(rows)
    return found.distinct().localCheckpoint() if found is not None else None  # read before anything is removed


def _remember(spark, found, requests: list[str]) -> None:
    """Append the found rows' keys to privacy.erased_rows (those it does not hold yet), before they are removed."""
    from pyspark.sql import functions as F

    spark.sql("create database if not exists privacy")
    if not spark.catalog.tableExists(ERASED_ROWS):
        spark.sql(f"create table {ERASED_ROWS} (source string, kind string, _source_file string, _row_number bigint, "
                  f"{LOAD} string, requests string) using parquet")
    if found is None:
        return
    keys = ["source", "kind", "_source_file", "_row_number", LOAD]
    new = found.join(spark.table(ERASED_ROWS).select(*keys), keys, "left_anti").distinct()
    new = new.withColumn("requests", F.lit(",".join(sorted(requests)))).localCheckpoint()
    if new.count():
        new.select(*keys, "requests").write.insertInto(ERASED_ROWS)


def _of_requests(spark, requests: list[str]):
    """privacy.erased_rows of these requests (this attempt's and an earlier, interrupted one's)."""
    from pyspark.sql import functions as F

    wanted = F.arrays_overlap(F.split(F.col("requests"), ","), F.array(*(F.lit(r) for r in requests)))
    return spark.table(ERASED_ROWS).where(wanted)


def _remembered(spark, requests: list[str]) -> tuple[list[list[Any]], dict[str, int]]:
    """The removed rows of these requests, for the books, and their count per table."""
    rows = [[r[0], r[1], r[2], r[3]] for r in _of_requests(spark, requests)
            .select("source", "_source_file", "_row_number", "kind").distinct().collect()]
    counts: dict[str, int] = {}
    for source, _, _, kind in rows:
        counts[f"{kind}.{source}"] = counts.get(f"{kind}.{source}", 0) + 1
    return rows, counts


def _remove_rows(spark, requests: list[str]) -> None:
    """Rewrite each load holding a row of these requests without it (a load left empty loses its partition)."""
    from pyspark.sql import functions as F

    erased = _of_requests(spark, requests).localCheckpoint()
    for (name, kind) in erased.select("source", "kind").distinct().collect():
        table = f"{kind}.{name}"
        keys = erased.where((F.col("source") == name) & (F.col("kind") == kind)).select(
            "_source_file", "_row_number", LOAD).distinct()
        loads = sorted(r[0] for r in keys.select(LOAD).distinct().collect())
        rows = spark.table(table).where(F.col(LOAD).isin(loads))
        if not rows.join(keys, ["_source_file", "_row_number", LOAD], "left_semi").limit(1).count():
            continue  # removed by an earlier attempt
        keep = rows.join(keys, ["_source_file", "_row_number", LOAD], "left_anti").select(*spark.table(table).columns)
        scratch = table + SCRATCH
        spark.sql(f"drop table if exists {scratch}")  # unfinished (no loads property): nothing was overwritten
        keep.write.format("parquet").saveAsTable(scratch)
        spark.sql(f"alter table {scratch} set tblproperties ('{LOADS_PROPERTY}' = '{','.join(loads)}')")
        _finish_rewrite(spark, scratch)


def _scratch_tables(spark) -> list[str]:
    return [f"{kind}.{t.name}" for kind in ("raw", "quarantine") if spark.catalog.databaseExists(kind)
            for t in spark.catalog.listTables(kind) if t.name.endswith(SCRATCH)]


def _finish_rewrite(spark, scratch: str) -> None:
    """Overwrite the scratch's loads of its table with its rows and drop the loads left empty, then the scratch. A
    scratch without its loads property was not complete: nothing was overwritten from it, it is dropped."""
    table = scratch[: -len(SCRATCH)]
    properties = {r[0]: r[1] for r in spark.sql(f"show tblproperties {scratch}").collect()}
    if LOADS_PROPERTY in properties:
        loads = set(properties[LOADS_PROPERTY].split(","))
        spark.sql(f"insert overwrite table {table} partition ({LOAD}) select * from {scratch}")
        kept = {r[0] for r in spark.table(scratch).select(LOAD).distinct().collect()}
        for load in sorted(loads - kept):
            spark.sql(f"alter table {table} drop if exists partition ({LOAD} = '{load}')")
    spark.sql(f"drop table {scratch}")


def _carry_state(spark, generation: int | None, values: set[str]) -> dict[str, int]:
    """The published generation's id map and merge log, which the new build carries on, without the person's rows,
    into `intermediate__erasure` and `marts__erasure` (the run's dbt build reads them there: JOURNEY_SPARK_PREVIOUS_
    SUFFIX); the published generation itself stays as it is until the new one replaces it."""
    from pyspark.sql import functions as F

    from orchestration.lib.spark_session import in_generation

    removed: dict[str, int] = {}
    if generation is None:
        return removed
    person = F.broadcast(spark.createDataFrame([(v,) for v in sorted(values)], "_erase_value string"))
    for qualified in (ID_MAP, MERGES):
        source = in_generation(qualified, generation)
        if not spark.catalog.tableExists(source):
            continue
        schema, name = qualified.split(".")
        target = f"{schema}{CARRIED_SUFFIX}.{name}"
        frame = spark.table(source)
        numbered = frame.withColumn("_erase_row", F.monotonically_increasing_id()).localCheckpoint()
        holding = None
        text = [f.name for f in frame.schema.fields if f.dataType.simpleString() == "string"] if values else []
        for column in text:
            part = numbered.join(person, F.col(column) == F.col("_erase_value"), "left_semi").select("_erase_row")
            holding = part if holding is None else holding.unionByName(part)
        kept = numbered if holding is None else numbered.join(holding, "_erase_row", "left_anti")
        kept = kept.select(*frame.columns)
        spark.sql(f"create database if not exists {schema}{CARRIED_SUFFIX}")
        spark.sql(f"drop table if exists {target}")
        kept.write.format("parquet").saveAsTable(target)
        removed[qualified] = frame.count() - spark.table(target).count()
    return {t: n for t, n in removed.items() if n}


def drop_carried_state(spark) -> None:
    """After the erasure's generation is published (or when a run has no erasure): the carried copies go."""
    for schema in {q.split(".")[0] for q in (ID_MAP, MERGES)}:
        spark.sql(f"drop database if exists {schema}{CARRIED_SUFFIX} cascade")


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

