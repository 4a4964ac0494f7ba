"""The steps of `journey run --engine spark` that need Spark (orchestration/spark_run.py runs them).

Each step runs in a process of its own (`python -m orchestration.spark_steps STEP ...`, in the interpreter that
has pyspark: .venv-spark), because the local Derby metastore admits one JVM at a time and dbt's Spark session is
another JVM. A step prints one JSON object on its last line of output.

- `ship BOOKS SPARK_WAREHOUSE`: the rows of the loads in the books' build file (its raw and quarantine tables hold
  this run's loads only) appended to the Spark tables `raw.<source>` and `quarantine.<source>`, each load a partition
  of its own (`_load_id`). First it drops the partitions of loads the books do not hold: a run that shipped and then
  stopped before it kept its books, whose files the next run loads again.
- `raw_gates BOOKS SPARK_WAREHOUSE REPORTS`: the raw suite of each source (`raw_<source>_quality`, the DuckDB
  pipeline's) on the staged rows of the books' latest load: the profile's DuckDB SQL translated to Spark SQL
  (expectations/raw_spark_sql.py) and run over a temporary view of the staged Parquet files, judged by Great
  Expectations; their reports go to REPORTS.
- `finish SPARK_WAREHOUSE GENERATION REPORTS`: the prediction step on the generation dbt just built, the mart gates
  (the same suites as on DuckDB, their violation counts computed by Spark SQL), and, only when every gate passed,
  publishing: the readers' views `marts.<table>` point at the generation's tables.
- `erase SPARK_WAREHOUSE BOOKS`: the Spark half of the pending erasures (`journey forget --engine spark`):
  orchestration/spark_privacy.py.
- `rollback SPARK_WAREHOUSE`: the views point at the previous generation again (`journey rollback --engine spark`).
- `views SPARK_WAREHOUSE`: each readers' view and the generation schema it reads.

Publishing on Spark: each run builds every model into schemas of its own generation (`marts__g7`, ...;
dbt_project/macros/generate_schema_name.sql), and readers query the views of the plain schema `marts`, which
publishing replaces one by one. Readers never see a half-built or unchecked generation; the views of one publish
are not switched in one transaction (Spark has none), so a query started within that second may read two
generations. The published generation and the one before it (for `journey rollback --engine spark`) are kept; older
ones are dropped after a publish.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration.lib.spark_session import (
    BUILT_SCHEMAS,
    GENERATIONS_FILE,
    generations,
    in_generation,
    spark_session,
    spark_type,
    suffix,
)
from rules.contract import SOURCES

if TYPE_CHECKING:
    from expectations.validation import QualityResult

LOAD_PARTITION = "_load_id"
PUBLISHED_SCHEMA = "marts"


def spark_dialect(sql: str) -> str:
    """The DuckDB functions the gates use that Spark lacks, written in Spark SQL: isfinite(x) (NaN is not finite;
    null stays null, as on DuckDB)."""
    return re.sub(r"\bisfinite\(([^()]*)\)", r"(not isnan(\1) and abs(\1) <> double('Infinity'))", sql)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ---------------------------------------------------------------------------------------------------- read
def read(books: Path, build: Path, landing: Path, spark_warehouse: Path, run_id: str, dates: str) -> dict[str, Any]:
    """The new export files of `dates` (spark_ingest.dates_argument) read by Spark's executors
    (orchestration/spark_ingest.py): the rows into the staging folder, the books into `build`."""
    import os

    from orchestration.lib.privacy import privacy_key
    from orchestration.spark_ingest import ingest, parse_dates_argument

    # the executors' Python is this one (the environment with the project's libraries), not the PATH's python3
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = spark_session(spark_warehouse)
    try:
        return ingest(spark, build, landing, spark_warehouse, parse_dates_argument(dates), run_id, privacy_key(books, create=True))
    finally:
        spark.stop()


# ---------------------------------------------------------------------------------------------------- ship
def ship(books: Path, spark_warehouse: Path) -> dict[str, int]:
    """Append the staged raw and quarantined rows of the books' loads to Spark's tables (a partition per load);
    returns rows shipped per table."""
    from orchestration.spark_ingest import staged_files

    con = duckdb.connect(str(books), read_only=True)
    spark = spark_session(spark_warehouse)
    shipped: dict[str, int] = {}
    try:
        loads = {load: (source, rows) for load, source, *rows in con.execute(
            "select load_id, source, rows_loaded, rows_quarantined from ops.loads").fetchall()}
        for schema in ("raw", "quarantine"):
            spark.sql(f"create database if not exists {schema}")
            for source in SOURCES:
                table = f"{schema}.{source}"
                columns = books_columns(con, schema, source)
                typed = [(c, spark_type(t)) for c, t in columns if c != LOAD_PARTITION]
                staged_columns = staged_schema(columns)
                _ensure_table(spark, table, typed)
                _drop_unknown_loads(spark, table, set(loads))
                target = [(f.name, f.dataType.simpleString()) for f in spark.table(table).schema.fields]
                shipped[table] = 0
                for load_id in sorted(load for load, (of, _) in loads.items() if of == source):
                    files = staged_files(spark_warehouse, schema, source, load_id)
                    if not files:
                        continue
                    staged = spark.read.schema(staged_columns).parquet(*[str(f) for f in files])
                    have = {c for c, _ in columns}
                    select = ", ".join(f"cast({_ident(c) if c in have else 'null'} as {t}) as {_ident(c)}"
                                       for c, t in target)
                    staged.createOrReplaceTempView("shipment")
                    spark.sql(f"insert into {table} select {select} from shipment")
                    shipped[table] += loads[load_id][1][0 if schema == "raw" else 1]  # as the books count them
    finally:
        spark.stop()
        con.close()
    return shipped


def books_columns(con: duckdb.DuckDBPyConnection, schema: str, source: str) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) of the books' table `<schema>.<source>`: every column a staged file may have."""
    return con.execute("select column_name, data_type from information_schema.columns "
                       "where table_schema = ? and table_name = ? order by ordinal_position", [schema, source]).fetchall()


def staged_schema(columns: list[tuple[str, str]]) -> str:
    """The staged files' columns as DuckDB wrote them (its timestamps carry no zone: timestamp_ntz), so Spark reads
    no file's footer to learn them; a column a file lacks (a new export column) reads null."""
    return ", ".join(f"{_ident(c)} {'timestamp_ntz' if t.upper() == 'TIMESTAMP' else spark_type(t)}" for c, t in columns)


def _ensure_table(spark, table: str, typed: list[tuple[str, str]]) -> None:
    """The table partitioned by load, with every column the books' table has (new export columns added)."""
    if not spark.catalog.tableExists(table):
        spark.sql(f"create table {table} ({', '.join(f'{_ident(c)} {t}' for c, t in typed)}, "
                  f"{LOAD_PARTITION} string) using parquet partitioned by ({LOAD_PARTITION})")
        return
    have = {f.name for f in spark.table(table).schema.fields}
    missing = [(c, t) for c, t in typed if c not in have]
    if missing:
        spark.sql(f"alter table {table} add columns ({', '.join(f'{_ident(c)} {t}' for c, t in missing)})")


def _drop_unknown_loads(spark, table: str, loads: set[str]) -> None:
    for (partition,) in spark.sql(f"show partitions {table}").collect():
        load_id = partition.split("=", 1)[1]
        if load_id not in loads:
            spark.sql(f"alter table {table} drop if exists partition ({LOAD_PARTITION} = '{load_id}')")


# -------------------------------------------------------------------------------------------------- finish
class _SparkConnection:
    """What the gates need of a connection, on Spark: `execute(sql)` with `.df()`, `.fetchall()`, `.fetchone()` and
    `.description`, and the columns of a table. How the gates' SQL becomes Spark's is the subclass's `spark_sql`."""

    def __init__(self, spark):
        self.spark = spark

    def execute(self, sql: str, params: Any = None) -> _Result:
        return _Result(self.spark.sql(self.spark_sql(sql, params)))

    def spark_sql(self, sql: str, params: Any = None) -> str:
        raise NotImplementedError

    def table_name(self, table: str) -> str:
        return table

    def table_columns(self, table: str) -> dict[str, str] | None:
        name = self.table_name(table)
        if not self.spark.catalog.tableExists(name):
            return None
        return {f.name: f.dataType.simpleString() for f in self.spark.table(name).schema.fields}

    def close(self) -> None:
        """The session outlives the gates' reads (closed by the step)."""


class SparkReader(_SparkConnection):
    """The mart gates' connection (expectations.mart_integrity) on a Spark generation. The gates' SQL names the plain
    schemas; it runs against the generation's."""

    def __init__(self, spark, generation: int):
        super().__init__(spark)
        self.generation = generation
        # the gates quote identifiers as SQL does ("name"); Spark reads them so in ANSI mode with this setting
        spark.conf.set("spark.sql.ansi.enabled", "true")
        spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")

    def spark_sql(self, sql: str, params: Any = None) -> str:
        """The gates' SQL as Spark runs it."""
        if params:
            raise ValueError("SparkReader runs SQL without parameters")
        return spark_dialect(in_generation(sql, self.generation))

    def table_name(self, table: str) -> str:
        return in_generation(table, self.generation)


class StagedReader(_SparkConnection):
    """The raw gates' connection (expectations.raw_profile.validate_raw) on the staged rows: their DuckDB SQL,
    parameters inlined, translated to Spark SQL (expectations.raw_spark_sql) and run on Spark over the temporary
    views the step made (`staged_view`). Spark SQL as sqlglot writes it (backquoted names, try_cast), in Spark's
    default ANSI mode."""

    def __init__(self, spark):
        super().__init__(spark)
        if spark.conf.get("spark.sql.session.timeZone") != "UTC":
            raise ValueError("the raw gates on Spark need the session time zone UTC (spark.sql.session.timeZone)")

    def spark_sql(self, sql: str, params: Any = None) -> str:
        from expectations.raw_spark_sql import to_spark

        return to_spark(sql, params)


class _Result:
    def __init__(self, frame):
        self.frame = frame
        self._rows: list | None = None

    def df(self):
        return self.frame.toPandas()

    def fetchall(self) -> list[tuple]:
        if self._rows is None:
            self._rows = [tuple(r) for r in self.frame.collect()]
        return self._rows

    def fetchone(self) -> tuple | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    @property
    def description(self) -> list[tuple]:
        return [(f.name,) for f in self.frame.schema.fields]


@dataclass
class GateOutcome:
    name: str
    asset: str
    passed: bool
    detail: str
    expectations: list[dict]


def run_mart_gates(spark, generation: int, reports: Path) -> list[GateOutcome]:
    """Every mart gate of the DuckDB pipeline (orchestration.defs.quality.checks.MART_CHECKS) on the generation."""
    from expectations.mart_integrity import validate_mart
    from expectations.validation import build_data_docs
    from orchestration.defs.quality.checks import MART_CHECKS, describe_result

    reader = SparkReader(spark, generation)
    outcomes, results = [], []
    for table, name, _ in MART_CHECKS:
        result = validate_mart(lambda: reader, table)
        results.append(result)
        outcomes.append(GateOutcome(f"{name}_quality", f"marts/{name}", result.success,
                                    describe_result(result, table), [f.as_dict() for f in result.failures]))
    try:
        build_data_docs(results, reports)
    except OSError as exc:  # a report we cannot write must not hide the verdict
        print(f"could not write the quality reports: {exc}", file=sys.stderr)
    return outcomes


# -------------------------------------------------------------------------------------------------- raw gates
def staged_view(spark, spark_warehouse: Path, source: str, load_id: str, columns: list[tuple[str, str]]
                ) -> tuple[str, list[str]] | None:
    """A temporary view `staged_<source>` over the staged raw files of one load, and the columns they hold (of the
    books' `columns`, those some file has: as DuckDB's union_by_name reads them); None: the load staged no file."""
    from orchestration.spark_ingest import staged_files

    files = [str(f) for f in staged_files(spark_warehouse, "raw", source, load_id)]
    if not files:
        return None
    in_files = set(spark.read.option("mergeSchema", "true").parquet(*files).columns)  # the files' footers only
    held = [(c, t) for c, t in columns if c in in_files]
    view = f"staged_{source}"
    spark.read.schema(staged_schema(held)).parquet(*files).createOrReplaceTempView(view)
    return view, [c for c, _ in held]


def raw_gate(spark, books: Path, spark_warehouse: Path, source: str) -> tuple[GateOutcome, QualityResult | None]:
    """The gate `raw_<source>_quality` (orchestration.defs.quality.checks.check_raw_source) on the staged rows of
    the books' latest load of `source`, its rules counted by Spark SQL; the result is None when there was nothing
    to validate."""
    from expectations.raw import raw_spec
    from expectations.raw_profile import validate_raw
    from orchestration.defs.quality.checks import describe_result, latest_load

    con = duckdb.connect(str(books), read_only=True)
    try:
        load = latest_load(con, source)
        columns = books_columns(con, "raw", source)
    finally:
        con.close()
    name, asset = f"raw_{source}_quality", f"raw/{source}"
    if load is None:
        return GateOutcome(name, asset, True, f"no load of {source} recorded in ops.loads yet: nothing to validate",
                           []), None
    reader = StagedReader(spark)
    staged = staged_view(spark, spark_warehouse, source, load.load_id, columns)
    view, held = staged or (None, [])
    batch = f"(select * from {view} where _load_id = $load_id)"  # as check_raw_source selects the load
    params = {"load_id": load.load_id}
    if view is None or reader.execute(f"select count(*) from {batch} as b", params).fetchone()[0] == 0:
        return GateOutcome(name, asset, True, f"the latest load of {source} ({load.load_id}) added no rows: nothing "
                                              "new to validate", []), None
    result = validate_raw(lambda: reader, raw_spec(source), batch, held, params)
    return GateOutcome(name, asset, result.success, describe_result(result, f"raw.{source} load {load.load_id}"),
                       [f.as_dict() for f in result.failures]), result


def quarantined(spark, spark_warehouse: Path) -> list[list]:
    """The night's quarantined rows per load and rule, [load_id, rule, rows], counted by Spark over the staged files
    (the staging folder holds this run's loads only)."""
    from orchestration.spark_ingest import staged_files

    counted = []
    for source in SOURCES:
        files = [str(f) for f in staged_files(spark_warehouse, "quarantine", source)]
        if files:
            rows = spark.read.parquet(*files).groupBy("_load_id", "_rule").count().collect()
            counted += [[r["_load_id"], r["_rule"], r["count"]] for r in rows]
    return sorted(counted)


def raw_gates(books: Path, spark_warehouse: Path, reports: Path) -> dict[str, list]:
    """The per-source raw suites on the night's staged rows (`suites`), and the night's quarantined rows per load and
    rule (`quarantined`, for the run's summary), counted by Spark where the files are; the reject-rate and volume
    gates read only the books and stay in DuckDB (orchestration/spark_run.py)."""
    from expectations.validation import build_data_docs

    spark = spark_session(spark_warehouse)
    try:
        judged = [raw_gate(spark, books, spark_warehouse, source) for source in SOURCES]
        counted = quarantined(spark, spark_warehouse)
    finally:
        spark.stop()
    try:
        build_data_docs([r for _, r in judged if r is not None], reports)
    except OSError as exc:  # a report we cannot write must not hide the verdict
        print(f"could not write the quality reports: {exc}", file=sys.stderr)
    return {"suites": [g.__dict__ for g, _ in judged], "quarantined": counted}


def _write_generations(spark_warehouse: Path, state: dict[str, int | None]) -> None:
    path = spark_warehouse / GENERATIONS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
    tmp.replace(path)


def point_views(spark, generation: int) -> list[str]:
    """The readers' views `marts.<name>` over the generation's marts (views of marts it lacks are dropped)."""
    built = f"{PUBLISHED_SCHEMA}{suffix(generation)}"
    spark.sql(f"create database if not exists {PUBLISHED_SCHEMA}")
    names = sorted(t.name for t in spark.catalog.listTables(built) if not t.isTemporary)
    for name in names:
        spark.sql(f"create or replace view {PUBLISHED_SCHEMA}.{_ident(name)} as select * from {built}.{_ident(name)}")
    for stale in {t.name for t in spark.catalog.listTables(PUBLISHED_SCHEMA) if not t.isTemporary} - set(names):
        spark.sql(f"drop view if exists {PUBLISHED_SCHEMA}.{_ident(stale)}")
    return names


def drop_generations(spark, keep: set[int]) -> list[int]:
    """Drop the schemas of every generation not in `keep` (failed builds, generations older than the previous)."""
    pattern = re.compile(rf"^({'|'.join(BUILT_SCHEMAS)})__g(\d+)$")
    dropped = set()
    for (name,) in spark.sql("show databases").collect():
        match = pattern.match(name)
        if match and int(match.group(2)) not in keep:
            spark.sql(f"drop database if exists {name} cascade")
            dropped.add(int(match.group(2)))
    return sorted(dropped)


def finish(spark_warehouse: Path, generation: int, reports: Path, erasure: bool = False) -> dict[str, Any]:
    """Prediction, mart gates and (when they pass) publishing of a generation; its counts for the summary. A
    generation that applied an erasure is published without a previous one: every other generation is dropped, as
    they hold the erased person (orchestration/spark_privacy.py)."""
    from orchestration.lib.spark_predict import predict_in_session

    spark = spark_session(spark_warehouse)
    try:
        predict_in_session(spark, generation)
        gates = run_mart_gates(spark, generation, reports)
        passed = all(g.passed for g in gates)
        if passed:
            point_views(spark, generation)
            state = generations(spark_warehouse)
            new_state = {"published": generation, "previous": None if erasure else state["published"]}
            _write_generations(spark_warehouse, new_state)
            drop_generations(spark, {g for g in new_state.values() if g is not None})
            if erasure:  # the id map and merge log the build carried on without the erased people
                from orchestration.spark_privacy import drop_carried_state

                drop_carried_state(spark)
        reader = SparkReader(spark, generation)
        counts = {name: reader.execute(f"select count(*) from marts.{name}").fetchone()[0]
                  for name in ("dim_customers", "fct_touchpoints")}
        markov = reader.execute("select channel, attributed_conversions, per_conversion_credits from "
                                "marts.fct_markov_channel_attribution order by attributed_conversions desc, channel"
                                ).fetchall()
    finally:
        spark.stop()
    return {"published": passed, "gates": [g.__dict__ for g in gates], "customers": counts["dim_customers"],
            "touchpoints": counts["fct_touchpoints"], "markov": [list(r) for r in markov]}


def rollback(spark_warehouse: Path) -> int:
    """Point the readers' views at the previous generation again; returns it. The replaced one becomes previous."""
    state = generations(spark_warehouse)
    if state["previous"] is None:
        raise FileNotFoundError(f"{spark_warehouse}: no previous generation to roll back to")
    spark = spark_session(spark_warehouse)
    try:
        point_views(spark, state["previous"])
        _write_generations(spark_warehouse, {"published": state["previous"], "previous": state["published"]})
    finally:
        spark.stop()
    return state["previous"]


def published_views(spark_warehouse: Path) -> dict[str, str]:
    """Each readers' view of `marts` and the generation schema it reads (`marts__g7`)."""
    spark = spark_session(spark_warehouse)
    try:
        views = {}
        for t in spark.catalog.listTables(PUBLISHED_SCHEMA):
            if t.isTemporary:
                continue
            text = spark.sql(f"show create table {PUBLISHED_SCHEMA}.{_ident(t.name)}").collect()[0][0]
            match = re.search(rf"\b({PUBLISHED_SCHEMA}__g\d+)\.", text)
            views[t.name] = match.group(1) if match else text
    finally:
        spark.stop()
    return views


def main(argv: list[str]) -> int:
    step, *args = argv
    if step == "read" and len(args) == 6:
        out: Any = read(Path(args[0]), Path(args[1]), Path(args[2]), Path(args[3]), args[4], args[5])
    elif step == "ship" and len(args) == 2:
        out = ship(Path(args[0]), Path(args[1]))
    elif step == "raw_gates" and len(args) == 3:
        out = raw_gates(Path(args[0]), Path(args[1]), Path(args[2]))
    elif step == "finish" and len(args) in (3, 4) and args[3:] in ([], ["erasure"]):
        out = finish(Path(args[0]), int(args[1]), Path(args[2]), erasure=args[3:] == ["erasure"])
    elif step == "erase" and len(args) == 2:
        from orchestration.spark_privacy import erase

        out = erase(Path(args[0]), Path(args[1]))
    elif step == "rollback" and len(args) == 1:
        out = {"published": rollback(Path(args[0]))}
    elif step == "views" and len(args) == 1:
        out = published_views(Path(args[0]))
    else:
        print("usage: python -m orchestration.spark_steps read BOOKS BUILD LANDING SPARK_WAREHOUSE RUN_ID DATES | "
              "ship BOOKS SPARK_WAREHOUSE | raw_gates BOOKS SPARK_WAREHOUSE REPORTS | finish SPARK_WAREHOUSE "
              "GENERATION REPORTS [erasure] | erase SPARK_WAREHOUSE BOOKS | rollback SPARK_WAREHOUSE | "
              "views SPARK_WAREHOUSE", file=sys.stderr)
        return 2
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
