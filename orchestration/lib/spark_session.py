"""A SparkSession of the Spark engine's steps (orchestration/lib/spark_steps.py) on the catalog dbt builds in.

The settings are those of dbt's `spark` target (dbt_project/profiles.yml keeps the same list): the Spark warehouse
folder's `tables/` and its local Derby metastore, UTC, and the master from JOURNEY_SPARK_MASTER. The metastore admits
one JVM at a time, so a step's session is stopped before dbt (another JVM) opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

SPARK_MASTER_ENV = "JOURNEY_SPARK_MASTER"


def spark_settings(spark_warehouse: Path) -> dict[str, str]:
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


def spark_session(spark_warehouse: Path):
    """A SparkSession on the warehouse folder's tables and metastore (stop it before dbt opens the metastore)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("customer-journey").enableHiveSupport()
    for name, value in spark_settings(spark_warehouse).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()
