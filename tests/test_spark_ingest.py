"""Ingestion on Spark's executors (orchestration/spark_ingest.py) without Spark: a stand-in for the SparkContext
(tests/helpers.py FakeSpark) runs the executor tasks in this process, each through pickle as Spark ships them. What
the engine's driver and tasks write must equal what the DuckDB pipeline's `load_source` writes of the same files:
the books, the registry, the field issues, the columns a night added, and every raw and quarantined row.
tests/test_spark.py runs it on Spark."""

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration import spark_ingest
from orchestration.lib.ingest import load_source, new_load_id
from orchestration.lib.privacy import SuppressionEntry, node_hash, sync_suppressions
from orchestration.lib.warehouse import connect, ensure_tables
from rules.contract import SOURCES
from tests.helpers import FakeSpark
from tests.test_ingest import ORDER_COLS, order_row, write_csv

KEY = "k" * 64


def test_the_read_steps_dates_argument_round_trips():
    """The dates a Spark run asks its `read` step for reach it as they were sent: every date (None), a set in any
    order, one date."""
    for dates in (None, {date(2026, 9, 3), date(2026, 9, 1), date(2026, 10, 12)}, {date(2026, 9, 2)}):
        assert spark_ingest.parse_dates_argument(spark_ingest.dates_argument(dates)) == dates
    assert spark_ingest.dates_argument({date(2026, 9, 3), date(2026, 9, 1)}) == "2026-09-01,2026-09-03"
    assert spark_ingest.dates_argument(None) == "all"


def test_groups_balance_bytes_and_keep_file_order():
    # 2 groups (2 cores, all 11 bytes fit in one group's 100): 5 -> first, 4 -> second, 1 -> second (4 < 5),
    # the last 1 -> first (5 = 5: the first group wins the tie)
    assert spark_ingest.groups([5, 1, 4, 1], cores=2, group_bytes=100) == [[0, 3], [1, 2]]
    # 11 bytes in groups of 3: 4 groups, one file each
    assert spark_ingest.groups([5, 1, 4, 1], cores=1, group_bytes=3) == [[0], [2], [1], [3]]
    assert spark_ingest.groups([7], cores=4) == [[0]]  # never more groups than files
    assert spark_ingest.groups([], cores=4) == []


def _books(con: duckdb.DuckDBPyConnection, prefix: str = "") -> dict[str, list[tuple]]:
    """What must be equal, without load ids and load times (each run has its own)."""
    def rows(sql: str) -> list[tuple]:
        return sorted(con.execute(sql).fetchall(), key=repr)

    out = {
        "loaded_files": rows(f"select * exclude (load_id, loaded_at) from {prefix}ops.loaded_files"),
        "field_issues": rows(f"select * exclude (_load_id) from {prefix}ops.field_issues"),
        "schema_changes": rows(f"select * exclude (load_id, noted_at) from {prefix}ops.schema_changes"),
        "loads": rows(f"select * exclude (load_id, run_id, started_at, finished_at) from {prefix}ops.loads"),
    }
    for source in SOURCES:
        out[f"raw.{source}"] = rows(f"select * exclude (_load_id, _loaded_at) from {prefix}raw.{source}")
        out[f"quarantine.{source}"] = rows(f"select * exclude (_load_id, _loaded_at) from {prefix}quarantine.{source}")
    return out


def _on_spark(tmp_path: Path, landing: Path, spark: FakeSpark, dates=None, suppress: list[str] = ()):
    """The Spark engine's ingestion into a new books file; the staged rows copied into its raw and quarantine tables
    (what the `ship` step appends to Spark's)."""
    books, warehouse = tmp_path / "spark" / "books.duckdb", tmp_path / "spark"
    warehouse.mkdir(exist_ok=True)
    con = connect(str(books))
    ensure_tables(con)
    if suppress:
        sync_suppressions(con, [SuppressionEntry("r1", "2026-09-10T00:00:00+00:00", "", list(suppress))])
    con.close()
    outcome = spark_ingest.ingest(spark, books, landing, warehouse, dates, "run-1", KEY)
    con = connect(str(books))
    for schema in ("raw", "quarantine"):
        for source in SOURCES:
            staged = spark_ingest.staged_files(warehouse, schema, source)
            if staged:
                con.execute(f"insert into {schema}.{source} by name select * from read_parquet(?, union_by_name = true)",
                            [[str(f) for f in staged]])
    return outcome, con


def _on_duckdb(tmp_path: Path, landing: Path, dates=None, suppress: list[str] = ()) -> duckdb.DuckDBPyConnection:
    con = connect(str(tmp_path / "duck.duckdb"))
    ensure_tables(con)
    if suppress:
        sync_suppressions(con, [SuppressionEntry("r1", "2026-09-10T00:00:00+00:00", "", list(suppress))])
    for source in SOURCES:
        load_source(con, source, landing, new_load_id(source), datetime.now(UTC).replace(tzinfo=None),
                    dates=dates, privacy_key=KEY)
    return con


def test_a_generated_night_on_the_executors_equals_duckdbs_load(tmp_path, monkeypatch):
    """Every source and format of a generated landing folder (its bad rows and re-delivered copies), plus two
    files with the same new column in different tasks, a copy, an empty file and a suppressed e-mail: the books,
    registry, field issues, new columns and rows equal DuckDB's load of the same files, file by file."""
    from orchestration.cli import main

    assert main(["generate", "--out", str(tmp_path / "gen"), "--people", "300", "--days", "6", "--seed", "5"]) == 0
    landing = tmp_path / "gen" / "landing"
    night = landing / "orders" / "2026-09-30"
    extra = [*ORDER_COLS, "gift_note"]
    write_csv(night / "a_extra.csv", [order_row("x1", gift_note="hi"), order_row("x2", amount="-1")], columns=extra)
    write_csv(night / "b_extra.csv", [order_row("x3", gift_note="yo", email="gone@x.com")], columns=extra)
    (night / "c_copy.csv").write_bytes((night / "a_extra.csv").read_bytes())
    (night / "d_empty.csv").write_bytes(b"")
    monkeypatch.setattr(spark_ingest, "GROUP_BYTES", 1)  # a task per file: the two new-column files apart
    suppress = [node_hash(KEY, "email:gone@x.com")]

    duck = _on_duckdb(tmp_path, landing, suppress=suppress)
    spark = FakeSpark(cores=3)
    outcome, books = _on_spark(tmp_path, landing, spark, suppress=suppress)
    assert outcome["error"] is None
    expected, got = _books(duck), _books(books)
    assert expected["loaded_files"] and expected["raw.orders"]  # the comparison compares something
    for part in expected:
        assert got[part] == expected[part], part
    assert got["schema_changes"] == [("orders", "orders/2026-09-30/a_extra.csv", "gift_note", "added_column")]
    assert "gift_note" in {r[0] for r in books.execute("describe raw.orders").fetchall()}
    assert books.execute("select rows_suppressed from ops.loaded_files where file_path like '%b_extra.csv'"
                         ).fetchall() == [(1,)]
    assert spark.sparkContext.jobs[1] > len(SOURCES)  # the read job: files of a source in several tasks


def test_a_night_with_a_file_that_cannot_load_keeps_nothing(tmp_path):
    """A file without a required column fails its source's batch, as on DuckDB: the error names the source and
    the file, no books are written for any source and the staging folder is empty."""
    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-09-02/good.csv", [order_row("o1")])
    write_csv(landing / "orders/2026-09-02/bad.csv", [order_row("o2")], columns=[c for c in ORDER_COLS
                                                                                if c != "order_id"])
    outcome, books = _on_spark(tmp_path, landing, FakeSpark())
    assert outcome["error"].startswith("[orders] ") and "bad.csv" in outcome["error"]
    assert "order_id" in outcome["error"]
    assert books.execute("select count(*) from ops.loads").fetchone()[0] == 0
    assert books.execute("select count(*) from ops.loaded_files").fetchone()[0] == 0
    assert not (tmp_path / "spark" / spark_ingest.STAGING).exists()


def test_only_the_chosen_dates_and_only_new_files_are_read(tmp_path):
    """A night loads its dates' files; a second run of the same dates reads nothing again (the registry knows
    the files) and records loads of zero rows."""
    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-09-02/o.csv", [order_row("o1")])
    write_csv(landing / "orders/2026-09-03/o.csv", [order_row("o2"), order_row("o3")])
    night = {date(2026, 9, 3)}
    outcome, books = _on_spark(tmp_path, landing, FakeSpark(), dates=night)
    assert outcome["error"] is None and outcome["staged"]["orders"] == 1
    assert books.execute("select order_id from raw.orders order by 1").fetchall() == [("o2",), ("o3",)]
    books.close()
    spark = FakeSpark()
    again = spark_ingest.ingest(spark, tmp_path / "spark" / "books.duckdb", landing, tmp_path / "spark", night,
                                "run-2", KEY)
    assert again["staged"]["orders"] == 0 and spark.sparkContext.jobs == [1]  # hashed, nothing to read
    con = connect(str(tmp_path / "spark" / "books.duckdb"))
    assert con.execute("select files_seen, files_skipped, rows_read from ops.loads where source = 'orders' "
                       "order by started_at").fetchall() == [(1, 0, 2), (1, 1, 0)]


@pytest.mark.parametrize("cores", [1, 4])
def test_the_tasks_books_balance_with_the_staged_rows(tmp_path, cores, monkeypatch):
    """Per file: rows read = loaded + quarantined, equal to the staged rows of that file, however the files are
    grouped."""
    landing = tmp_path / "landing"
    for n in range(5):
        write_csv(landing / f"orders/2026-09-02/o{n}.csv",
                  [order_row(f"o{n}-{i}", amount="-1" if i == 0 else "3") for i in range(n + 1)])
    monkeypatch.setattr(spark_ingest, "GROUP_BYTES", 1)
    outcome, books = _on_spark(tmp_path, landing, FakeSpark(cores))
    assert outcome["error"] is None and outcome["staged"]["orders"] == 5
    assert books.execute(
        "select f.file_path, f.rows_read, f.rows_loaded, f.rows_quarantined, "
        "(select count(*) from raw.orders r where r._source_file = f.file_path), "
        "(select count(*) from quarantine.orders q where q._source_file = f.file_path) "
        "from ops.loaded_files f order by 1").fetchall() == [
        (f"orders/2026-09-02/o{n}.csv", n + 1, n, 1, n, 1) for n in range(5)]


def test_a_task_that_dies_leaves_nothing_the_next_run_keeps(tmp_path, monkeypatch):
    """An executor that dies mid-night (here: the task of one file raises after staging nothing) fails the read
    with the books untouched; what other tasks staged is discarded by the next run, which loads every file once."""
    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-09-02/a.csv", [order_row("o1"), order_row("o2")])  # larger: its task first
    write_csv(landing / "orders/2026-09-02/b.csv", [order_row("o3")])
    monkeypatch.setattr(spark_ingest, "GROUP_BYTES", 1)
    real = spark_ingest.read_group

    def dies_on_b(task):
        if any(f["rel"].endswith("b.csv") for f in task["files"]):
            raise OSError("executor lost")
        return real(task)

    monkeypatch.setattr(spark_ingest, "read_group", dies_on_b)
    with pytest.raises(OSError, match="executor lost"):
        _on_spark(tmp_path, landing, FakeSpark())
    warehouse = tmp_path / "spark"
    assert spark_ingest.staged_files(warehouse, "raw", "orders")  # a.csv's task staged its rows
    con = connect(str(warehouse / "books.duckdb"))
    assert con.execute("select count(*) from ops.loaded_files").fetchone()[0] == 0
    con.close()
    monkeypatch.setattr(spark_ingest, "read_group", real)
    outcome = spark_ingest.ingest(FakeSpark(), warehouse / "books.duckdb", landing, warehouse, None, "run-2", KEY)
    assert outcome["error"] is None and outcome["staged"]["orders"] == 2
    staged = [str(f) for f in spark_ingest.staged_files(warehouse, "raw", "orders")]
    assert len(staged) == 2 and duckdb.connect().execute(
        "select count(*), count(distinct _load_id) from read_parquet(?)", [staged]).fetchone() == (3, 1)
