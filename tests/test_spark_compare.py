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


def _warehouses(tmp_path: Path, spark_rows=ROWS, spark_built_at: str = SPARK_BUILT_AT,
                first_builds: tuple[str, str] | None = None) -> tuple[Path, Path]:
    """A DuckDB warehouse and a Spark folder holding table `t` (and the staged orders whose stamps say when each side
    built). With `first_builds` (DuckDB's, Spark's), each side built twice: its orders carry that first build's stamp
    too, and a `first_assigned_at` written as "first" is that side's first build's start."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    duck, spark = tmp_path / "journey.duckdb", tmp_path / "spark"
    con = duckdb.connect(str(duck))
    try:
        sides = (("duck", ROWS, DUCKDB_BUILT_AT), ("spark", spark_rows, spark_built_at))
        for index, (side, rows, built_at) in enumerate(sides):
            first = first_builds[index] if first_builds else None
            con.execute(f"create schema if not exists {side}")
            con.execute(f"create table {side}.stg_shop__orders as select 'o1' as order_id, "
                        f"timestamp '{built_at}' as _changed_at")
            if first:
                con.execute(f"insert into {side}.stg_shop__orders values ('o0', timestamp '{first}')")
            con.execute(f"create table {side}.t (id varchar, amount decimal(18, 2), score double, "
                        "first_assigned_at timestamp, _changed_at timestamp)")
            for id_, amount, score, assigned in rows:
                assigned = first if assigned == "first" else assigned
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


def test_stamps_of_two_builds_compare_by_their_order(tmp_path):
    """A warehouse built over two nights on each side: a stamp of a side's first build stands for the same as the
    other side's first build's (and the second's for the second's); a first build's stamp on one side against the
    second build's on the other is a difference."""
    firsts = ("2026-09-30 03:00:00", "2026-09-30 03:05:00")
    rows = [("a", "10.00", 0.5, "first"), *ROWS[1:]]
    duck, spark = _warehouses(tmp_path / "same", spark_rows=rows, first_builds=firsts)
    # both sides: "a" first assigned by the side's first build, "c" by its second
    con = duckdb.connect(str(duck))
    try:
        con.execute(f"update marts.t set first_assigned_at = timestamp '{firsts[0]}' where id = 'a'")
    finally:
        con.close()
    assert {r.name: r for r in compare_warehouses(duck, spark)}["marts.t"].equal
    # DuckDB's "a" by its second build, Spark's by its first
    duck, spark = _warehouses(tmp_path / "crossed", spark_rows=rows, first_builds=firsts)
    result = {r.name: r for r in compare_warehouses(duck, spark)}["marts.t"]
    assert not result.equal
    assert result.only_in_duckdb == result.only_in_spark == 1, result.describe()


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
