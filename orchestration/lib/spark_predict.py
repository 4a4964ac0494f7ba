"""The prediction step (orchestration/lib/prediction.py) on a Spark build (`journey run --engine spark`, its finish
step: orchestration/spark_steps.py).

The prediction step fits and scores in Python on one row per customer and purchase day, after dbt. Spark hands
`intermediate.int_customers__purchase_days` of the run's generation to Python as Arrow, `prediction.run_prediction`
fits, scores and backtests on an in-memory DuckDB exactly as it does on the DuckDB warehouse, and its four tables
(prediction.TABLES) go back to Spark as Arrow and into the generation as Parquet tables. What crosses is the purchase
days (a few rows per buying customer) and one row per customer back: both fit in the driver at a size where Spark's
other steps need a cluster, and no file is shared between the driver and the executors. Every run fits again (the
DuckDB pipeline refits weekly, from the fits it keeps).
"""

from __future__ import annotations

import duckdb

from orchestration.lib.prediction import PURCHASE_DAYS_TABLE, TABLES, PredictionResult, create_tables_sql, run_prediction
from orchestration.lib.spark_session import in_generation, spark_type


def predict_in_session(spark, generation: int | None = None) -> PredictionResult:
    """The prediction step in an open Spark session, on the plain schemas or a generation's."""

    def named(table: str) -> str:
        return table if generation is None else in_generation(table, generation)

    if not spark.catalog.tableExists(named(PURCHASE_DAYS_TABLE)):
        raise FileNotFoundError(f"no {named(PURCHASE_DAYS_TABLE)} in Spark's catalog: build the models first")
    purchase_days = spark.table(named(PURCHASE_DAYS_TABLE)).toArrow()
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create schema {PURCHASE_DAYS_TABLE.split('.')[0]}")
        con.register("purchase_days_from_spark", purchase_days)
        con.execute(f"create view {PURCHASE_DAYS_TABLE} as select * from purchase_days_from_spark")
        con.execute(create_tables_sql(replace=False))
        result = run_prediction(con)
        outputs = {name: con.sql(f"select * from {name}").to_arrow_table() for name in TABLES}
    finally:
        con.close()
    for name, columns in TABLES.items():
        target = named(name)
        spark.sql(f"create database if not exists {target.split('.')[0]}")
        spark.sql(f"drop table if exists {target}")
        spark.sql(f"create table {target} ({', '.join(f'{c} {spark_type(t)}' for c, t in columns.items())}) "
                  "using parquet")
        spark.createDataFrame(outputs[name]).createOrReplaceTempView("prediction_output")
        spark.sql(f"insert into {target} select "
                  + ", ".join(f"cast({c} as {spark_type(t)})" for c, t in columns.items())
                  + " from prediction_output")
    return result
