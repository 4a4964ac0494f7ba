"""Compare the tables dbt built on Spark with the same tables of a DuckDB-built warehouse (issue 17's equality).

The Spark tables are plain Parquet folders under <Spark warehouse>/tables/<schema>.db/<table> (dbt_project/
profiles.yml `spark`), so DuckDB reads them directly: no Spark session is needed to compare. A table is equal when
both sides hold the same multiset of rows over the DuckDB table's columns, with these allowances only:
- columns stamped with the build's start time (`_changed_at`) differ between any two builds and are left out;
- doubles are compared rounded to 6 decimals (the engines sum floating point in different orders); decimals
  (money) exactly;
- timestamps are compared as UTC wall-clock values (Spark writes instants).

`python -m orchestration.lib.spark_compare DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER` prints one line per table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

SCHEMAS = ("staging", "intermediate", "marts")
# Columns whose value is the build's start time (macros/incremental.sql build_started_at): never equal across builds
RUN_TIME_COLUMNS = {"_changed_at"}
DOUBLE_DECIMALS = 6


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


def spark_table_folder(spark_warehouse: Path, schema: str, table: str) -> Path:
    return spark_warehouse.resolve() / "tables" / f"{schema}.db" / table


def _comparable(column: str, duckdb_type: str) -> str:
    quoted = '"' + column.replace('"', '""') + '"'
    if duckdb_type in ("DOUBLE", "FLOAT"):
        return f"round({quoted}, {DOUBLE_DECIMALS}) as {quoted}"
    if duckdb_type.startswith("TIMESTAMP"):
        return f"cast({quoted} as timestamp) as {quoted}"
    return f"cast({quoted} as {duckdb_type}) as {quoted}"


def compare_table(con: duckdb.DuckDBPyConnection, spark_warehouse: Path, schema: str, table: str) -> TableComparison:
    """One table of the attached DuckDB warehouse (`duck`) against its Parquet folder on Spark."""
    duckdb_rows = con.execute(f'select count(*) from duck."{schema}"."{table}"').fetchone()[0]
    folder = spark_table_folder(spark_warehouse, schema, table)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return TableComparison(schema, table, duckdb_rows, None)
    spark = f"read_parquet('{folder}/*.parquet')"
    duckdb_columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = 'duck' and schema_name = ? "
        "and table_name = ? order by column_index", [schema, table]).fetchall()
    spark_columns = {row[0].lower() for row in con.execute(f"describe select * from {spark}").fetchall()}
    compared = [(name, kind) for name, kind in duckdb_columns if name not in RUN_TIME_COLUMNS]
    missing = tuple(name for name, _ in compared if name.lower() not in spark_columns)
    spark_rows = con.execute(f"select count(*) from {spark}").fetchone()[0]
    if missing:
        return TableComparison(schema, table, duckdb_rows, spark_rows, missing_columns=missing)
    columns = ", ".join(_comparable(name, kind) for name, kind in compared)
    duck_side = f'select {columns} from duck."{schema}"."{table}"'
    spark_side = f"select {columns} from {spark}"
    only_in_duckdb = con.execute(f"select count(*) from ({duck_side} except all {spark_side})").fetchone()[0]
    only_in_spark = con.execute(f"select count(*) from ({spark_side} except all {duck_side})").fetchone()[0]
    return TableComparison(schema, table, duckdb_rows, spark_rows, only_in_duckdb, only_in_spark)


def compare_warehouses(duckdb_warehouse: Path, spark_warehouse: Path,
                       schemas: tuple[str, ...] = SCHEMAS) -> list[TableComparison]:
    """Every table of `schemas` in the DuckDB warehouse, compared with Spark's (views are left out)."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{duckdb_warehouse}' as duck (read_only)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'duck' and schema_name in "
            f"({', '.join('?' for _ in schemas)}) order by schema_name, table_name", list(schemas)).fetchall()
        return [compare_table(con, spark_warehouse, schema, table) for schema, table in tables]
    finally:
        con.close()


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m orchestration.lib.spark_compare DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER")
    results = compare_warehouses(Path(sys.argv[1]), Path(sys.argv[2]))
    for result in results:
        print(result.describe())
    print(f"{sum(r.equal for r in results)} of {len(results)} tables equal")
