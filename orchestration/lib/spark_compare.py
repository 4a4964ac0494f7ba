"""Compare the tables dbt built on Spark with the same tables of a DuckDB-built warehouse (issue 17's equality).

The Spark tables are plain Parquet folders under <Spark warehouse>/tables/<schema>.db/<table> (dbt_project/
profiles.yml `spark`), so DuckDB reads them directly: no Spark session is needed to compare. A table is equal when
both sides hold the same multiset of rows over the DuckDB table's columns, with these allowances only:
- columns stamped with the time a step ran (`_changed_at`: the build's start; `run_at`: the build that wrote an id
  map row; `fitted_at`: the prediction step's fit) differ between any two builds and are left out;
- in other timestamp columns, a build's own start time (when a customer id was first assigned, when the map last
  changed: "this build") stands for the same thing on both sides: each side's first build's start is read as the
  first mark (build_time_mark), its second build's as the second, and so on. A side's build start times are the distinct
  `_changed_at` of its staged orders, in order (a build stamps every order it staged; a warehouse built over two
  nights holds both nights' stamps);
- columns that number a build (`_build_number`) are left out, as the stamps are: a model rebuilt whole numbers all
  its rows with the last build, an incremental one keeps each row's;
- doubles are compared rounded to 6 decimals (the engines sum floating point in different orders), and a row that
  differs only in doubles within 2e-6 (relative; a value such as 0.0271875 rounds to either side of the sixth decimal
  depending on its last bit) matches too; decimals (money) exactly;
- timestamps are compared as UTC wall-clock values (Spark writes instants).

`python -m orchestration.lib.spark_compare DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER` prints one line per table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

SCHEMAS = ("reference", "staging", "intermediate", "marts")
# Columns whose value is when a step ran, never equal across builds: the build's start time (macros/incremental.sql
# build_started_at) and the prediction step's fit time (orchestration/lib/prediction.py)
# and the ingestion's own marks: each load's id and time (two ingestions of the same files, as `journey run` on
# DuckDB and `journey run --engine spark` make, load the same rows under other load ids)
RUN_TIME_COLUMNS = {"_changed_at", "fitted_at", "_load_id", "_loaded_at", "_build_number", "run_at"}
DOUBLE_DECIMALS = 6
DOUBLE_TOLERANCE = 2e-6  # two units of the sixth decimal: the doubles compared are already rounded


def build_time_mark(build: int) -> str:
    """What a timestamp equal to the start time of a side's `build`-th build (from 0) is compared as (see the
    module's docstring)."""
    return f"(timestamp '0001-01-01 00:00:00' + interval {build} day)"

BUILD_TIME_TABLE = ("staging", "stg_shop__orders")


@dataclass
class TableComparison:
    schema: str
    table: str
    duckdb_rows: int
    spark_rows: int | None  # None: not built on Spark
    only_in_duckdb: int = 0  # rows (with multiplicity) of DuckDB's table that Spark's lacks
    only_in_spark: int = 0
    missing_columns: tuple[str, ...] = ()  # DuckDB's columns that Spark's table lacks

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def equal(self) -> bool:
        return (self.spark_rows is not None and not self.missing_columns and self.duckdb_rows == self.spark_rows
                and self.only_in_duckdb == 0 and self.only_in_spark == 0)

    def describe(self) -> str:
        if self.spark_rows is None:
            return f"{self.name}: not built on Spark ({self.duckdb_rows} rows on DuckDB)"
        if self.equal:
            return f"{self.name}: equal ({self.duckdb_rows} rows)"
        missing = f", columns missing on Spark: {', '.join(self.missing_columns)}" if self.missing_columns else ""
        return (f"{self.name}: DIFFERENT: {self.duckdb_rows} rows on DuckDB, {self.spark_rows} on Spark, "
                f"{self.only_in_duckdb} only on DuckDB, {self.only_in_spark} only on Spark{missing}")


def spark_table_folder(spark_warehouse: Path, schema: str, table: str, generation: int | None = None) -> Path:
    """The Parquet folder of a table dbt built on Spark, in the plain schemas or a generation's (`journey run
    --engine spark`: marts__g7, ...)."""
    suffix = "" if generation is None else f"__g{generation}"
    return spark_warehouse.resolve() / "tables" / f"{schema}{suffix}.db" / table


def _comparable(column: str, duckdb_type: str, built_at: tuple[str, ...] = ()) -> str:
    quoted = '"' + column.replace('"', '""') + '"'
    if duckdb_type in ("DOUBLE", "FLOAT"):
        return f"round({quoted}, {DOUBLE_DECIMALS}) as {quoted}"
    if duckdb_type.startswith("TIMESTAMP"):
        value = f"cast({quoted} as timestamp)"
        if not built_at:
            return f"{value} as {quoted}"
        marks = " ".join(f"when timestamp '{start}' then {build_time_mark(i)}" for i, start in enumerate(built_at))
        return f"case {value} {marks} else {value} end as {quoted}"
    return f"cast({quoted} as {duckdb_type}) as {quoted}"


def build_starts(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[str, ...]:
    """The start times of the builds that wrote `relation` (a staging table of BUILD_TIME_TABLE), oldest first."""
    rows = con.execute(f"select distinct cast(_changed_at as timestamp) as t from {relation} "
                       "where _changed_at is not null order by t").fetchall()
    return tuple(str(value) for (value,) in rows)


def compare_table(con: duckdb.DuckDBPyConnection, spark_warehouse: Path, schema: str, table: str,
                  built_at: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
                  generation: int | None = None, ignored: frozenset[str] = frozenset()) -> TableComparison:
    """One table of the attached DuckDB warehouse (`duck`) against its Parquet folder on Spark; `built_at`: the
    DuckDB builds' and the Spark builds' start times, oldest first (timestamps equal to the i-th compare as the
    i-th build_time_mark); `ignored`: columns left out besides RUN_TIME_COLUMNS."""
    duckdb_rows = con.execute(f'select count(*) from duck."{schema}"."{table}"').fetchone()[0]
    folder = spark_table_folder(spark_warehouse, schema, table, generation)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return TableComparison(schema, table, duckdb_rows, None)
    spark = f"read_parquet('{folder}/*.parquet')"
    duckdb_columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = 'duck' and schema_name = ? "
        "and table_name = ? order by column_index", [schema, table]).fetchall()
    spark_columns = {row[0].lower() for row in con.execute(f"describe select * from {spark}").fetchall()}
    compared = [(name, kind) for name, kind in duckdb_columns if name not in RUN_TIME_COLUMNS | ignored]
    missing = tuple(name for name, _ in compared if name.lower() not in spark_columns)
    spark_rows = con.execute(f"select count(*) from {spark}").fetchone()[0]
    if missing:
        return TableComparison(schema, table, duckdb_rows, spark_rows, missing_columns=missing)
    duck_columns = ", ".join(_comparable(name, kind, built_at[0]) for name, kind in compared)
    spark_columns_sql = ", ".join(_comparable(name, kind, built_at[1]) for name, kind in compared)
    duck_side = f'select {duck_columns} from duck."{schema}"."{table}"'
    spark_side = f"select {spark_columns_sql} from {spark}"
    only_in_duckdb = con.execute(f"select count(*) from ({duck_side} except all {spark_side})").fetchone()[0]
    only_in_spark = con.execute(f"select count(*) from ({spark_side} except all {duck_side})").fetchone()[0]
    doubles = [name for name, kind in compared if kind in ("DOUBLE", "FLOAT")]
    if doubles and (only_in_duckdb or only_in_spark):
        only_in_duckdb, only_in_spark = _unmatched_within_tolerance(
            con, duck_side, spark_side, [name for name, _ in compared], doubles)
    return TableComparison(schema, table, duckdb_rows, spark_rows, only_in_duckdb, only_in_spark)


def _unmatched_within_tolerance(con: duckdb.DuckDBPyConnection, duck_side: str, spark_side: str, columns: list[str],
                                doubles: list[str]) -> tuple[int, int]:
    """Of the rows either side lacks, those without a row on the other side that equals them in every other column
    and whose doubles are within DOUBLE_TOLERANCE (relative to the larger magnitude, at least 1)."""
    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    same = " and ".join(f"a.{q(c)} is not distinct from b.{q(c)}" for c in columns if c not in doubles) or "true"
    close = " and ".join(
        f"(a.{q(c)} is not distinct from b.{q(c)} or abs(a.{q(c)} - b.{q(c)}) <= {DOUBLE_TOLERANCE} * "
        f"greatest(1, abs(a.{q(c)}), abs(b.{q(c)})))" for c in doubles)
    counts = []
    for mine, theirs in ((duck_side, spark_side), (spark_side, duck_side)):
        counts.append(con.execute(
            f"select count(*) from ({mine} except all {theirs}) as a "
            f"where not exists (select 1 from ({theirs} except all {mine}) as b where {same} and {close})").fetchone()[0])
    return counts[0], counts[1]


def compare_warehouses(duckdb_warehouse: Path, spark_warehouse: Path, schemas: tuple[str, ...] = SCHEMAS,
                       generation: int | None = None,
                       ignored: dict[str, frozenset[str]] | None = None,
                       earlier_builds: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> list[TableComparison]:
    """Every table of `schemas` in the DuckDB warehouse, compared with Spark's (views are left out): the tables of
    the plain schemas, or of a generation (`journey run --engine spark`). `ignored`: columns to leave out of some
    tables (`schema.table` to column names). The builds' start times come from the staging table BUILD_TIME_TABLE's
    stamps; `earlier_builds` (DuckDB's, Spark's; oldest first) are those of builds whose stamps it no longer holds (a
    full refresh stamps every row again), read from it before."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{duckdb_warehouse}' as duck (read_only)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'duck' and schema_name in "
            f"({', '.join('?' for _ in schemas)}) order by schema_name, table_name", list(schemas)).fetchall()
        schema, table = BUILD_TIME_TABLE
        spark_folder = spark_table_folder(spark_warehouse, schema, table, generation)
        built_at = (earlier_builds[0] + build_starts(con, f'duck."{schema}"."{table}"'),
                    earlier_builds[1] + (build_starts(con, f"read_parquet('{spark_folder}/*.parquet')")
                                         if any(spark_folder.glob("*.parquet")) else ()))
        return [compare_table(con, spark_warehouse, schema, table, built_at, generation,
                              (ignored or {}).get(f"{schema}.{table}", frozenset())) for schema, table in tables]
    finally:
        con.close()


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m orchestration.lib.spark_compare DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER")
    state = Path(sys.argv[2]) / "generations.json"  # a `journey run --engine spark` warehouse: its published one
    published = json.loads(state.read_text(encoding="utf-8"))["published"] if state.exists() else None
    results = compare_warehouses(Path(sys.argv[1]), Path(sys.argv[2]), generation=published)
    for result in results:
        print(result.describe())
    print(f"{sum(r.equal for r in results)} of {len(results)} tables equal")
