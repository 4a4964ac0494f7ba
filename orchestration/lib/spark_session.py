"""A SparkSession of the Spark engine's steps (orchestration/spark_steps.py) on the catalog dbt builds in, and the
names of a run's generation of schemas.

The settings are those of dbt's `spark` target (dbt_project/profiles.yml keeps the same list): the Spark warehouse
folder's `tables/` and its local Derby metastore, UTC, and the master from JOURNEY_SPARK_MASTER. The metastore admits
one JVM at a time, so a step's session is stopped before dbt (another JVM) opens it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SPARK_MASTER_ENV = "JOURNEY_SPARK_MASTER"
BOOKS = "books.duckdb"  # the Spark warehouse folder's books (the ingestion's registry, DuckDB)
GENERATIONS_FILE = "generations.json"  # the published generation and the previous one
DRIVER_MEMORY_ENV = "JOURNEY_SPARK_DRIVER_MEMORY"
# the schemas dbt builds (dbt_project/macros/generate_schema_name.sql): each run's in a generation of its own
BUILT_SCHEMAS = ("reference", "staging", "intermediate", "marts", "ops", "main")


SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "DATE": "date", "TIMESTAMP": "timestamp",
               "BOOLEAN": "boolean", "DOUBLE": "double"}


def spark_type(duckdb_type: str) -> str:
    """The Spark SQL type of a DuckDB column type (the raw tables' and the prediction step's)."""
    name = duckdb_type.upper()
    if name.startswith("DECIMAL"):
        return name.lower()
    if name not in SPARK_TYPES:
        raise ValueError(f"no Spark type for the DuckDB type {duckdb_type}")
    return SPARK_TYPES[name]


def suffix(generation: int) -> str:
    """The schema suffix of a generation (JOURNEY_SPARK_SCHEMA_SUFFIX of its dbt build)."""
    return f"__g{generation}"


def in_generation(sql: str, generation: int) -> str:
    """SQL written for the plain schemas (`marts.dim_customers`, `ops.prediction_fits`), pointed at a generation's."""
    return re.sub(rf"\b({'|'.join(BUILT_SCHEMAS)})\.(?=[A-Za-z_])", rf"\g<1>{suffix(generation)}.", sql)


def spark_settings(spark_warehouse: Path) -> dict[str, str]:
    folder = spark_warehouse.resolve()
    return {
        "spark.master": os.environ.get(SPARK_MASTER_ENV, "local[*]"),
        "spark.driver.memory": os.environ.get(DRIVER_MEMORY_ENV, "2g"),
        "spark.sql.warehouse.dir": str(folder / "tables"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it
    }


def spark_session(spark_warehouse: Path):
    """A SparkSession on the warehouse folder's tables and metastore (stop it before dbt opens the metastore)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("customer-journey").enableHiveSupport()
    for name, value in spark_settings(spark_warehouse).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


def generations(spark_warehouse: Path) -> dict[str, int | None]:
    """{"published": N, "previous": M} of a Spark warehouse folder (None where there is none yet)."""
    path = spark_warehouse / GENERATIONS_FILE
    if not path.exists():
        return {"published": None, "previous": None}
    return json.loads(path.read_text(encoding="utf-8"))
