"""STAND-IN for ingestion on Spark: copies the raw schema of a DuckDB-built warehouse into a local Spark warehouse.

Issue 17 item 2 (the landing files read by Spark into raw and quarantine, with the same books and rules) is not
built yet. Until it is, the dbt project's Spark target (dbt_project/profiles.yml `spark`, docs/spark.md) reads
raw tables that this module copies from a warehouse the DuckDB pipeline built: each raw.<source> table is
written to Parquet by DuckDB (`COPY ... TO`) and registered in Spark's catalog as an external Parquet table of
the same name. The rows, their text and their lineage columns are the DuckDB run's, so a Spark build of the
models can be compared with the DuckDB build row for row (tests/test_spark.py). Real Spark ingestion replaces
this module; nothing in the DuckDB path imports it.

The Spark warehouse folder (JOURNEY_SPARK_WAREHOUSE, as for dbt's `spark` target) holds:
  tables/        spark.sql.warehouse.dir: the tables dbt builds, plain Parquet
  metastore_db/  the local Derby metastore (one process at a time: close this module's session before dbt runs)
  raw_parquet/   the copied raw tables (this stand-in's only files)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from rules.contract import SOURCES

SPARK_WAREHOUSE_ENV = "JOURNEY_SPARK_WAREHOUSE"
SPARK_MASTER_ENV = "JOURNEY_SPARK_MASTER"


def spark_settings(spark_warehouse: Path) -> dict[str, str]:
    """The Spark settings of dbt's `spark` target (dbt_project/profiles.yml keeps the same list): a session of
    this module with them sees the catalog dbt builds in."""
    folder = spark_warehouse.resolve()
    return {
        "spark.master": os.environ.get(SPARK_MASTER_ENV, "local[*]"),
        "spark.sql.warehouse.dir": str(folder / "tables"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it
    }


def dbt_spark_env(spark_warehouse: Path, duckdb_warehouse: Path) -> dict[str, str]:
    """The environment of a process that builds or reads the Spark warehouse beside a DuckDB build of the same data
    (dbt's `spark` target, spark_predict): no JOURNEY_* setting of the caller leaks in, the Spark folder is named,
    and the customer-id key is the DuckDB warehouse's, so both engines make the same customer ids."""
    from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, key_for_warehouse

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    env[SPARK_WAREHOUSE_ENV] = str(spark_warehouse)
    env[CUSTOMER_ID_KEY_ENV] = key_for_warehouse(duckdb_warehouse, create=False)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def spark_session(spark_warehouse: Path):
    """A SparkSession on the local warehouse folder and its metastore (stop it before dbt opens the metastore)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("customer-journey-raw-stand-in").enableHiveSupport()
    for name, value in spark_settings(spark_warehouse).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


def export_raw_parquet(duckdb_warehouse: Path, spark_warehouse: Path) -> dict[str, Path]:
    """Write every raw.<source> table of the DuckDB warehouse to Parquet under spark_warehouse/raw_parquet."""
    target = spark_warehouse.resolve() / "raw_parquet"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    written: dict[str, Path] = {}
    con = duckdb.connect(str(duckdb_warehouse), read_only=True)
    try:
        for name in SOURCES:
            path = target / f"{name}.parquet"
            con.execute(f"copy raw.{name} to '{path}' (format parquet)")
            written[name] = path
    finally:
        con.close()
    return written


def load_raw_from_duckdb(duckdb_warehouse: Path, spark_warehouse: Path) -> dict[str, int]:
    """The raw schema of a DuckDB-built warehouse as Spark tables raw.<source>; returns the row count of each."""
    files = export_raw_parquet(duckdb_warehouse, spark_warehouse)
    spark = spark_session(spark_warehouse)
    counts: dict[str, int] = {}
    try:
        spark.sql("create database if not exists raw")
        for name, path in files.items():
            spark.sql(f"drop table if exists raw.{name}")
            spark.sql(f"create table raw.{name} using parquet location '{path}'")
            counts[name] = spark.table(f"raw.{name}").count()
    finally:
        spark.stop()
    return counts


if __name__ == "__main__":  # `python -m orchestration.lib.spark_raw DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER`
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m orchestration.lib.spark_raw DUCKDB_WAREHOUSE SPARK_WAREHOUSE_FOLDER")
    for table, rows in load_raw_from_duckdb(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(f"raw.{table}: {rows} rows")
