"""The comparison of a Spark build with a DuckDB build (orchestration/lib/spark_compare.py) on hand-made tables.

The Spark side is what dbt-spark leaves: Parquet folders under <warehouse>/tables/<schema>.db/<table>. These tests
write such folders with DuckDB, so they need no Spark (the equality of real builds is tests/test_spark.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.spark_compare import compare_warehouses, spark_table_folder

DUCKDB_BUILT_AT = "2026-10-01 03:00:00"
SPARK_BUILT_AT = "2026-10-01 03:07:12"
ROWS = [  # (id, amount, score, first_assigned_at: None = the build's own start time)
    ("a", "10.00", 0.5, None),
    ("b", "20.50", 0.0271875, "2026-09-01 00:00:00"),
    ("c", "0.01", 177.7534375, None),
]


def _warehouses(tmp_path: Path, spark_rows=ROWS, spark_built_at: str = SPARK_BUILT_AT) -> tuple[Path, Path]:
    duck, spark = tmp_path / "journey.duckdb", tmp_path / "spark"
    con = duckdb.connect(str(duck))
    try:
        for side, rows, built_at in (("duck", ROWS, DUCKDB_BUILT_AT), ("spark", spark_rows, spark_built_at)):
            con.execute(f"create schema if not exists {side}")
            con.execute(f"create table {side}.stg_shop__orders as select 'o1' as order_id, "
                        f"timestamp '{built_at}' as _changed_at")
            con.execute(f"create table {side}.t (id varchar, amount decimal(18, 2), score double, "
                        "first_assigned_at timestamp, _changed_at timestamp)")
            for id_, amount, score, assigned in rows:
                con.execute(f"insert into {side}.t values (?, ?, ?, ?, timestamp '{built_at}')",
                            [id_, amount, score, assigned or built_at])
        for table, schema in (("stg_shop__orders", "staging"), ("t", "marts")):
            folder = spark_table_folder(spark, schema, table)
            folder.mkdir(parents=True)
            con.execute(f"copy spark.{table} to '{folder / 'part-0.parquet'}' (format parquet)")
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{table} as select * from duck.{table}")
        con.execute("drop schema duck cascade")
        con.execute("drop schema spark cascade")
    finally:
        con.close()
    return duck, spark


def _result(tmp_path: Path, **kwargs):
    duck, spark = _warehouses(tmp_path, **kwargs)
    return {r.name: r for r in compare_warehouses(duck, spark)}["marts.t"]


def test_the_same_rows_built_at_other_times_are_equal(tmp_path):
    """Each side's own start time (in _changed_at and in first_assigned_at) stands for "this build" on both."""
    assert _result(tmp_path).equal


def test_doubles_within_the_tolerance_are_equal(tmp_path):
    """0.0271875 rounds to either side of the sixth decimal depending on its last bit (a sum's order on Spark)."""
    rows = [("a", "10.00", 0.5 + 1e-9, None), ("b", "20.50", 0.02718750000000001, "2026-09-01 00:00:00"),
            ("c", "0.01", 177.75343749999998, None)]
    assert _result(tmp_path, spark_rows=rows).equal


@pytest.mark.parametrize("changed, why", [
    (("a", "10.00", 0.5001, None), "a double off by 1e-4"),
    (("a", "10.01", 0.5, None), "money off by a cent"),
    (("a", "10.00", 0.5, "2026-09-01 00:00:00"), "a stamp that is not the build's start time on one side"),
    (("z", "10.00", 0.5, None), "another key"),
])
def test_a_difference_is_found(tmp_path, changed, why):
    rows = [changed, *ROWS[1:]]
    result = _result(tmp_path, spark_rows=rows)
    assert not result.equal, why
    assert result.only_in_duckdb == result.only_in_spark == 1, result.describe()


def test_a_missing_row_is_found(tmp_path):
    result = _result(tmp_path, spark_rows=ROWS[:2])
    assert not result.equal
    assert (result.duckdb_rows, result.spark_rows, result.only_in_duckdb, result.only_in_spark) == (3, 2, 1, 0)
