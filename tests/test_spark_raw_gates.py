"""The raw gates counted by Spark SQL (orchestration/spark_steps.py `raw_gate`, expectations/raw_spark_sql.py) judge
as the DuckDB gates do: every broken batch of tests/test_quality_raw.py, and a clean batch per source, staged as
Parquet the way ingestion on Spark stages a load, give on Spark the verdict, failed rules, counts, observed text and
sample rows the DuckDB path (validate_raw_frame) gives. The regular expressions and the parsed timestamps and
numbers agree on the edge values of tests/test_quality_raw.py, and on the line terminators Java's regular expressions
read otherwise than RE2's.

Marker `spark` (in .venv-spark); skipped without pyspark or Java.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from expectations import patterns
from expectations.raw import raw_spec
from expectations.raw_profile import literal, profile_sql, validate_raw, validate_raw_frame
from expectations.raw_spark_sql import java_regex, to_spark
from expectations.validation import QualityResult
from orchestration.lib.spark_session import SPARK_MASTER_ENV
from orchestration.spark_ingest import staging_folder
from rules.contract import SOURCES, timestamp_sql
from tests.test_quality import NOW, clean_frame
from tests.test_quality_raw import BROKEN, EDGES
from tests.test_timestamps import GRID, dbt_parse_timestamp, in_duckdb

pytestmark = pytest.mark.spark

LOAD = "L1"
# what Java's regular expressions read otherwise than RE2: line terminators beyond \n, the vertical tab in \s
LINE_ENDS = ["2026-10-01\u2028", "2026-10-01\u0085", "2026-10-01\r\n", "1234567\u2028", "a@b.com\u2029",
             "12\u0085", "2026-10-01T10:00\x0bZ", "2026-10-01T10:00\u2028", "2026-10-01T10:00Z\n"]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from orchestration.lib.spark_session import spark_session

    folder = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SPARK_MASTER_ENV, "local[1]")  # small batches; leave the other core to whatever else runs
        session = spark_session(folder)
    session.conf.set("spark.sql.shuffle.partitions", "1")
    yield session
    session.stop()


def staged(frame: pd.DataFrame, warehouse: Path, source: str) -> list[tuple[str, str]]:
    """The batch as ingestion on Spark leaves a load: Parquet written by DuckDB in the staging folder; its columns."""
    folder = staging_folder(warehouse, "raw", source, LOAD)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.register("frame", frame.reset_index(drop=True).assign(_load_id=LOAD))
        con.execute("create table batch as select * from frame")
        con.execute(f"copy batch to {literal(str(folder / 'part-0.parquet'))} (format parquet)")
        return [(c, t) for c, t, *_ in con.execute("describe batch").fetchall()]
    finally:
        con.close()


def with_lineage(frame: pd.DataFrame) -> pd.DataFrame:
    """The lineage a staged row has besides file, line and load (typed: the sample rows show them)."""
    return frame.assign(_export_date=pd.Timestamp("2026-10-01").date(), _loaded_at=pd.Timestamp("2026-10-02 03:04:05"),
                        _file_sha256="ab" * 32)


def on_spark(spark, frame: pd.DataFrame, source: str, warehouse: Path) -> tuple[QualityResult, dict]:
    """The gate's result on Spark, and its profile row (every rule's counts, a passed rule's too)."""
    from orchestration.spark_steps import StagedReader, staged_view

    view, columns = staged_view(spark, warehouse, source, LOAD, staged(frame, warehouse, source))
    reader, spec = StagedReader(spark), raw_spec(source, now=NOW)
    batch, params = f"(select * from {view} where _load_id = $load_id)", {"load_id": LOAD}
    profile = reader.execute(profile_sql(spec, batch, columns), params)
    row = dict(zip([d[0] for d in profile.description], profile.fetchone(), strict=True))
    return validate_raw(lambda: reader, spec, batch, columns, params), row


def on_duckdb(frame: pd.DataFrame, source: str) -> tuple[QualityResult, dict]:
    spec = raw_spec(source, now=NOW)
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")  # as validate_raw_frame
        con.register("frame_batch", frame.reset_index(drop=True))
        con.execute("create table batch as select * from frame_batch")
        columns = [r[0] for r in con.execute("describe batch").fetchall()]
        profile = con.execute(profile_sql(spec, "batch", columns))
        row = dict(zip([d[0] for d in profile.description], profile.fetchone(), strict=True))
    finally:
        con.close()
    return validate_raw_frame(frame, spec), row


def judged(result: QualityResult) -> dict:
    """Everything a report shows of a result but its time."""
    return {"success": result.success, "rows": result.rows, "evaluated": result.evaluated,
            "failures": [f.as_dict() for f in result.failures]}


def blank_moved() -> pd.DataFrame:
    """Two rows of one event whose content differs only in where a blank is: ('x', blank) and (blank, 'x')."""
    frame = clean_frame("web_events", n=30)
    twin = frame.iloc[[0]].assign(utm_source=None, utm_medium="x")
    frame.iloc[0, frame.columns.get_loc("utm_source")] = "x"
    frame.iloc[0, frame.columns.get_loc("utm_medium")] = None
    return pd.concat([frame, twin]).reset_index(drop=True).assign(_row_number=range(1, 32))


BATCHES = {**{name: (source, batch) for name, (source, batch, _) in BROKEN.items()},
           **{f"{source}: clean": (source, lambda s=source: clean_frame(s, n=30)) for source in SOURCES},
           "web: content differing in where a blank is": ("web_events", blank_moved)}


@pytest.mark.parametrize("name", list(BATCHES))
def test_spark_judges_each_batch_as_duckdb(spark, tmp_path: Path, name: str) -> None:
    source, batch = BATCHES[name]
    frame = with_lineage(batch())
    duck, duck_counts = on_duckdb(frame, source)
    on, counts = on_spark(spark, frame, source, tmp_path / "warehouse")
    assert counts == duck_counts
    assert judged(on) == judged(duck), on.markdown()
    if name in BROKEN:
        assert on.success is not BROKEN[name][2]  # the batch is broken as the DuckDB test says
        assert {(f.rule, f.column or ""): f.unexpected_count or 0 for f in on.failures} == BROKEN[name][2]
    if name == "web: content differing in where a blank is":
        assert counts["key_conflict_free__event_id__unexpected"] == 2


def in_spark(spark, expression: str, values: list[str]) -> list:
    """`expression` in DuckDB SQL of a text column "v", translated to Spark SQL, for each value."""
    return in_spark_sql(spark, to_spark(f'select {expression} from edge_values order by i'), values, whole_query=True)


def test_regular_expressions_agree_with_duckdb_on_edge_values(spark) -> None:
    for name, values in EDGES.items():
        values = [*values, *LINE_ENDS]
        pattern = patterns.PHONE_CHARACTERS if name == "PHONE" else getattr(patterns, name)
        test = f'regexp_matches("v", {literal(pattern)})'
        assert dict(zip(values, in_spark(spark, test, values), strict=True)) == \
            dict(zip(values, in_duckdb(test, values), strict=True)), name


# Texts the two engines' casts read otherwise. Of the numbers, every one fails the rule number_parseable on both.
NUMBERS_PARSED_OTHERWISE = {"+nan", "0x1p3", "1_000", "1d", "\xa012"}
NUMBERS = [*EDGES["NUMBER"], "-0.00", " 1e3 ", "1.2.3", "-1", "1d", "0x1p3", "+nan", "1_000"]


def in_spark_sql(spark, expression: str, values: list[str], whole_query: bool = False) -> list:
    """`expression` in Spark SQL of a text column v (or a whole query over the view edge_values) for each value."""
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    frame.createOrReplaceTempView("edge_values")
    rows = spark.sql(expression if whole_query else f"select {expression} from edge_values order by i").collect()
    return [r[0] for r in rows]


def read_otherwise(got: list, values: list[str], tz: str) -> dict[str, tuple]:
    """The texts Spark read otherwise than ingestion's rule in DuckDB: {text: (Spark's, DuckDB's)}."""
    duck = in_duckdb(timestamp_sql("v", tz), values)
    return {v: (s, d) for v, s, d in zip(values, got, duck, strict=True) if str(s) != str(d)}


# Wall-clock times at clock changes, with the zones they fall in. Of the two instants an autumn change gives a
# wall-clock time, both engines read the later (DuckDB's timezone(); Spark's to_utc_timestamp alone would take the
# earlier); a time a spring change skips is read with the offset before it. Around each change: the day before and
# after (a day later is what the Spark expression looks at), the edges of the repeated or skipped interval.
CLOCK_CHANGES = {
    "Europe/Berlin": ["2026-03-29T02:30", "2026-03-29 02:30:00.5", "2026-03-28T02:30", "2026-03-29T01:59:59",
                      "2026-03-29T03:00", "2026-10-25T02:30", "2026-10-25T02:00", "2026-10-25T02:59:59.999999",
                      "2026-10-25T01:59:59", "2026-10-25T03:00", "2026-10-24T02:30", "2026-10-26T02:30", "2026-10-25"],
    "America/New_York": ["2026-11-01T01:30", "2026-11-01T00:59", "2026-11-01T02:00", "2026-10-31T01:30",
                         "2026-03-08T02:30", "2026-03-07T02:30"],
    # half an hour, and the change at 02:00 summer time
    "Australia/Lord_Howe": ["2026-04-05T01:45", "2026-04-05T01:30", "2026-04-05T02:00", "2026-04-04T01:45",
                            "2026-10-04T02:15", "2026-10-03T02:15"],
    "UTC": [],
}


def test_timestamps_read_as_in_duckdb_by_the_gates_and_by_staging(spark) -> None:
    """Every text of the grid of tests/test_timestamps.py (dates, times, offsets and padding, Java's line terminators
    among them), in the source's zone or in UTC, and texts at clock changes in three zones: the raw gates' rule
    translated to Spark SQL and dbt's spark__parse_timestamp read the same instant as DuckDB, or none where it reads
    none."""
    for tz, clock_changes in CLOCK_CHANGES.items():
        values = clock_changes if tz not in ("UTC", "Europe/Berlin") else [*GRID, *EDGES["ISO_TIMESTAMP"], *LINE_ENDS,
                                                                            *clock_changes]
        assert read_otherwise(in_spark(spark, timestamp_sql("v", tz), values), values, tz) == {}, tz
        staging = dbt_parse_timestamp("spark", "v", tz)
        assert "rlike" in staging and "to_utc_timestamp" in staging
        assert read_otherwise(in_spark_sql(spark, staging, values), values, tz) == {}, tz


def test_spark_alone_reads_the_repeated_hour_as_the_earlier_instant(spark) -> None:
    # what the expression above changes, so that the test above can fail: 02:30 on 2026-10-25 in Berlin is 00:30 UTC
    # (summer time) to to_utc_timestamp, 01:30 UTC (winter time) to DuckDB and to the project's Spark SQL
    values = ["2026-10-25T02:30"]
    assert in_spark_sql(spark, "to_utc_timestamp(cast(v as timestamp), 'Europe/Berlin')", values) == [
        datetime(2026, 10, 25, 0, 30)]
    assert in_duckdb(timestamp_sql("v", "Europe/Berlin"), values) == [datetime(2026, 10, 25, 1, 30)]


def test_numbers_parse_as_in_duckdb_but_for_the_listed_texts(spark) -> None:
    assert parsed_otherwise(spark, 'try_cast(trim("v") as double)', NUMBERS) == NUMBERS_PARSED_OTHERWISE
    assert not NUMBERS_PARSED_OTHERWISE & {v for v in NUMBERS if re.search(patterns.NUMBER, v)}


def parsed_otherwise(spark, expression: str, values: list[str]) -> set[str]:
    return {v for v, on, duck in zip(values, in_spark(spark, expression, values), in_duckdb(expression, values),
                                     strict=True) if str(on) != str(duck)}


def test_java_regex_rewrites_only_what_java_reads_otherwise() -> None:
    assert java_regex(r"^[ \t\v]*x\s*$") == r"^[ \t\x0B]*x[\t\n\f\r ]*\z"
    assert java_regex(r"a\\v\\s\$") == r"a\\v\\s\$"  # escaped backslashes and an escaped dollar are text
    assert "to_utc_timestamp" in to_spark(f"select {timestamp_sql('v', 'Europe/Berlin')}").lower()


def test_parameters_are_inlined_as_quoted_literals_and_bad_sql_is_refused(spark) -> None:
    sql = to_spark("select $load_id as l", {"load_id": "it's \\ odd"})
    assert spark.sql(sql).collect()[0][0] == "it's \\ odd"
    with pytest.raises(ValueError, match="load_id"):
        to_spark("select $load_id", {})
    with pytest.raises(ValueError, match="one SQL statement"):
        to_spark("select 1; select 2")


def test_the_raw_gates_step_judges_the_staged_loads_as_the_duckdb_gates_did(tmp_path: Path) -> None:
    """`python -m orchestration.spark_steps raw_gates` (a process of its own, as the run starts it) on a books file
    whose latest loads of orders (broken) and app_events (a file without two columns) are staged, the other sources
    never loaded: the same outcomes, in the same order, as the DuckDB gates on views over the same files; and the
    same count of the staged quarantined rows per load and rule (two files of one load, one of another)."""
    from orchestration.lib.warehouse import connect, ensure_tables
    from orchestration.runner import CheckOutcome
    from orchestration.spark_run import _step_command, _step_env, _step_result, raw_gates
    from tests.helpers import duckdb_raw_gates_step
    from tests.test_quality_raw import app_without_column, orders_broken

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    warehouse, books = tmp_path / "spark", tmp_path / "books.duckdb"
    con = connect(str(books))
    try:
        ensure_tables(con)
        for source, frame in (("orders", orders_broken()), ("app_events", app_without_column())):
            staged(with_lineage(frame), warehouse, source)
            con.execute("insert into ops.loads (load_id, source, started_at) values (?, ?, '2026-10-01')", [LOAD, source])
    finally:
        con.close()
    for source, load, part, rules in (("orders", LOAD, 0, ["negative_amount", "missing_key", "negative_amount"]),
                                      ("orders", LOAD, 1, ["negative_amount"]), ("web_events", "L0", 0, ["missing_key"])):
        folder = staging_folder(warehouse, "quarantine", source, load)
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"_load_id": load, "_rule": rules, "order_id": "x"}).to_parquet(folder / f"part-{part}.parquet")
    env = {**_step_env(), SPARK_MASTER_ENV: "local[1]", "JOURNEY_SPARK_DRIVER_MEMORY": "1g"}
    step = subprocess.run(_step_command(Path(sys.executable), "raw_gates", str(books), str(warehouse),
                                        str(tmp_path / "reports")), env=env, capture_output=True, text=True, check=False)
    assert step.returncode == 0, step.stderr[-3000:]
    judged = _step_result(step.stdout)
    assert judged == duckdb_raw_gates_step(books, warehouse, tmp_path / "duckdb-reports")
    assert judged["quarantined"] == [["L0", "missing_key", 1], [LOAD, "missing_key", 1], [LOAD, "negative_amount", 3]]
    on_spark = judged["suites"]
    assert {g["name"] for g in on_spark if not g["passed"]} == {"raw_orders_quality", "raw_app_events_quality"}
    assert (tmp_path / "reports" / "index.html").exists()
    # the run's gates: each source's reject rate and volume from the books, then its suite as Spark judged it
    gates = raw_gates(books, [
        CheckOutcome(g["name"], g["asset"], g["passed"], True, g["detail"], g["expectations"]) for g in on_spark])
    assert [c.name for c in gates] == [f"raw_{s}_{gate}" for s in SOURCES for gate in ("reject_rate", "volume", "quality")]
