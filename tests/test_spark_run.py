"""`journey run --engine spark` without Spark: what it says when pyspark or Java is missing, how SQL written for the
plain schemas reaches a generation's, and a raw gate that fails stopping the run before anything reaches Spark's
tables (the executors' reading runs here, in FakeSpark).

The Spark run itself (every table equal to DuckDB's, generations, rollback, a failed mart gate) is tests/test_spark.py
(`make test-spark`)."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import cli, spark_run
from orchestration.lib.prediction import TABLES
from orchestration.lib.spark_session import in_generation, spark_type, suffix
from orchestration.spark_ingest import staged_files
from orchestration.spark_steps import spark_dialect
from rules.contract import SOURCES
from tests.helpers import SAMPLE_LANDING, FakeSpark, duckdb_raw_gates_step


def test_sql_for_the_plain_schemas_reads_the_generations():
    sql = ("select count(*) from marts.fct_touchpoints as s where not exists (select 1 from marts.dim_customers as c "
           "where c.customer_id = s.customer_id) and s.x in (select y from ops.prediction_fits) and s.note = 'raw'")
    assert in_generation(sql, 7) == (
        "select count(*) from marts__g7.fct_touchpoints as s where not exists (select 1 from marts__g7.dim_customers "
        "as c where c.customer_id = s.customer_id) and s.x in (select y from ops__g7.prediction_fits) "
        "and s.note = 'raw'")
    assert suffix(12) == "__g12"
    # raw and quarantine are the shipped history, not a generation's; a column named like a schema stays
    assert in_generation("select s.marts from raw.orders s join quarantine.orders q on true", 3) == \
        "select s.marts from raw.orders s join quarantine.orders q on true"


def test_the_gates_duckdb_functions_are_written_in_spark_sql():
    assert spark_dialect("count(*) filter (where s.p is null or not isfinite(s.p))") == (
        "count(*) filter (where s.p is null or not (not isnan(s.p) and abs(s.p) <> double('Infinity')))")
    assert spark_dialect("select isfinite_count from t") == "select isfinite_count from t"


def test_raw_column_types_map_to_spark_and_an_unknown_one_is_refused():
    assert [spark_type(t) for t in ("VARCHAR", "BIGINT", "DATE", "TIMESTAMP", "DECIMAL(18,2)")] == [
        "string", "bigint", "date", "timestamp", "decimal(18,2)"]
    with pytest.raises(ValueError, match="no Spark type for the DuckDB type INTERVAL"):
        spark_type("INTERVAL")
    # the prediction step's tables (written lower case) map too
    assert {spark_type(t) for columns in TABLES.values() for t in columns.values()} <= {
        "string", "int", "date", "timestamp", "double", "bigint", "boolean"}


def test_without_the_spark_interpreter_the_run_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(spark_run.SPARK_PYTHON_ENV, str(tmp_path / "no-python"))
    code = cli.main(["run", "--engine", "spark", "--warehouse", str(tmp_path / "spark")])
    out = capsys.readouterr().out
    assert code == 2 and f"{spark_run.SPARK_PYTHON_ENV}={tmp_path / 'no-python'}: no such interpreter" in out
    monkeypatch.delenv(spark_run.SPARK_PYTHON_ENV)
    monkeypatch.setattr(spark_run.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(spark_run, "PROJECT_ROOT", tmp_path)  # no .venv-spark there
    code = cli.main(["backfill", "--engine", "spark", "--from", "2026-09-02", "--to", "2026-09-03",
                     "--warehouse", str(tmp_path / "spark")])
    assert code == 2 and "run `make spark`" in capsys.readouterr().out
    assert not (tmp_path / "spark").exists()  # nothing was started


def test_without_java_the_run_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(spark_run.SPARK_PYTHON_ENV, sys.executable)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_run.shutil, "which", lambda name: None)
    assert cli.main(["run", "--engine", "spark", "--warehouse", str(tmp_path / "spark")]) == 2
    assert "needs Java 17" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["run"], ["backfill", "--from", "2026-09-02", "--to", "2026-09-03"]])
@pytest.mark.parametrize("full_refresh", [False, True])
def test_full_refresh_reaches_dbt_on_spark(command, full_refresh, tmp_path, monkeypatch):
    """Staging and identity's record models are incremental on Spark: `--full-refresh` must reach dbt's run of the
    generation's models (a run that ignored it would keep rows a changed rule no longer makes); the seeds are
    built whole either way. The Spark steps themselves are stood in for here (tests/test_spark.py runs them)."""
    dbt_calls = []
    monkeypatch.setattr(spark_run, "check_java", lambda: None)
    monkeypatch.setenv(spark_run.SPARK_PYTHON_ENV, sys.executable)
    monkeypatch.setattr(spark_run, "export_date_range", lambda landing, books: (date(2026, 9, 2), date(2026, 9, 2)))
    monkeypatch.setattr(spark_run, "write_run_report", lambda summary, engine: None)
    for step in ("ingest", "ship", "keep_books"):
        monkeypatch.setattr(spark_run.SparkRun, step, lambda self, *args: None)
    monkeypatch.setattr(spark_run.SparkRun, "dbt", lambda self, args, generation: dbt_calls.append(args))
    monkeypatch.setattr(spark_run.SparkRun, "finish", lambda self, generation: setattr(self.summary, "published", True))
    args = [*command, "--engine", "spark", "--warehouse", str(tmp_path / "spark"), "--landing", str(SAMPLE_LANDING)]
    assert cli.main(args + (["--full-refresh"] if full_refresh else [])) == 0
    assert dbt_calls == [["seed"], ["run", "--full-refresh"] if full_refresh else ["run"]]


def test_the_dagster_job_of_the_spark_engine_takes_full_refresh_as_config(tmp_path, monkeypatch):
    """The Spark job's `spark/models` asset: config full_refresh (as the DuckDB job's dbt asset has) reaches dbt."""
    from orchestration.definitions import NIGHTLY_JOB, build_definitions

    dbt_calls = []
    monkeypatch.setattr(spark_run, "check_java", lambda: None)
    monkeypatch.setenv(spark_run.SPARK_PYTHON_ENV, sys.executable)
    monkeypatch.setattr(spark_run.SparkRun, "dbt", lambda self, args, generation: dbt_calls.append(args))
    (tmp_path / "spark").mkdir()
    defs = build_definitions(warehouse=tmp_path / "spark", landing=SAMPLE_LANDING, engine="spark")
    job = defs.resolve_job_def(NIGHTLY_JOB)
    for full_refresh in (False, True):
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg_key("spark/models")],
            partition_key="2026-09-02", raise_on_error=False,
            run_config={"ops": {"spark__models": {"config": {"full_refresh": full_refresh}}}})
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert dbt_calls == [["seed"], ["run"], ["seed"], ["run", "--full-refresh"]]


def test_rollback_without_a_previous_generation_says_so(tmp_path, capsys):
    assert cli.main(["rollback", "--engine", "spark", "--warehouse", str(tmp_path)]) == 1
    assert "no previous generation to roll back to" in capsys.readouterr().err


def test_a_failed_raw_gate_ships_nothing_and_keeps_no_books(tmp_path, monkeypatch):
    """A night whose e-mail export is all unparseable timestamps fails the reject-rate gate: the summary names the
    gate and the file, no Spark step starts but reading and the raw suites (stood in for by the DuckDB gates), no
    books are kept, so the next run loads the same files again."""
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    night = sorted((landing / "email_events").iterdir())[-1]
    columns = SOURCES["email_events"].columns
    rows = [",".join(f"evt-late-{i}" if c == "event_id" else "not-a-date" if c == "occurred_at" else "x"
                     for c in columns) for i in range(40)]
    (night / "email_events_late.csv").write_text("\n".join([",".join(columns), *rows]) + "\n", encoding="utf-8")
    started = _steps_without_spark(monkeypatch)
    warehouse = tmp_path / "spark"
    summary = spark_run.execute_spark(landing, warehouse)
    assert summary.exit_code == 1 and not summary.published and started == ["read", "raw_gates"]
    assert [c.name for c in summary.checks if c.name.endswith("_quality")] == [f"raw_{s}_quality" for s in SOURCES]
    failed = [c for c in summary.checks if not c.passed]
    assert [c.name for c in failed] == ["raw_email_events_reject_rate"], [c.name for c in failed]
    assert "email_events_late.csv" in failed[0].detail and "40 of 40 rows quarantined" in failed[0].detail
    assert any("raw gate(s) failed: nothing was shipped to Spark" in f for f in summary.failures)
    assert not (warehouse / spark_run.BOOKS).exists()
    reasons = {(source, rule): n for source, rule, n in summary.reasons}  # read from the staged quarantined rows
    assert reasons[("email_events", "unparseable_timestamp")] >= 40 and ("orders", "negative_amount") in reasons
    # the staged rows hold them, with the rule they broke: nothing is lost, and nothing was kept
    staged = [str(f) for f in staged_files(warehouse, "quarantine", "email_events")]
    assert duckdb.connect().execute("select count(*) from read_parquet(?, union_by_name = true) where _source_file "
                                    "like '%late%' and _rule = 'unparseable_timestamp'", [staged]).fetchone()[0] == 40
    con = duckdb.connect(str(warehouse / (spark_run.BOOKS + ".build")), read_only=True)
    try:
        loaded = dict(con.execute("select source, sum(rows_loaded) from ops.loads group by 1").fetchall())
    finally:
        con.close()
    assert set(loaded) == set(SOURCES) and all(n > 0 for n in loaded.values())


def _steps_without_spark(monkeypatch) -> list[str]:
    """The Spark steps a run starts, by name; `read` runs the executors' ingestion in this process (FakeSpark),
    `raw_gates` the DuckDB gates on the staged rows (tests.helpers.duckdb_raw_gates_step), the others do nothing."""
    from orchestration.lib.privacy import privacy_key
    from orchestration.spark_ingest import ingest, parse_dates_argument

    started: list[str] = []

    def step(self, name, *args):
        started.append(name)
        if name == "read":
            books, build, landing, warehouse, run_id, dates = args
            return ingest(FakeSpark(), Path(build), Path(landing), Path(warehouse), parse_dates_argument(dates), run_id,
                          privacy_key(Path(books)))
        if name == "raw_gates":
            return duckdb_raw_gates_step(*map(Path, args))
        return {}

    monkeypatch.setattr(spark_run, "check_java", lambda: None)
    monkeypatch.setenv(spark_run.SPARK_PYTHON_ENV, sys.executable)
    monkeypatch.setattr(spark_run.SparkRun, "spark_step", step)
    return started


def test_the_spark_warehouse_defaults_to_the_variable_then_warehouse_spark(tmp_path, monkeypatch):
    monkeypatch.setenv(spark_run.SPARK_WAREHOUSE_ENV, str(tmp_path / "from-env"))
    assert spark_run.resolve_spark_warehouse(None) == tmp_path / "from-env"
    assert spark_run.resolve_spark_warehouse(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv(spark_run.SPARK_WAREHOUSE_ENV)
    assert spark_run.resolve_spark_warehouse(None) == Path(spark_run.PROJECT_ROOT) / "warehouse" / "spark"


def test_a_first_run_that_loads_nothing_publishes_nothing(tmp_path, monkeypatch):
    """An empty warehouse that passed every check is a wrong landing folder or a missing delivery, not a result."""
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    started = _steps_without_spark(monkeypatch)
    summary = spark_run.execute_spark(tmp_path / "landing", tmp_path / "spark")
    assert summary.exit_code == 1 and started == ["read"]
    assert any("nothing published: this first run loaded no export file" in f for f in summary.failures)


def test_the_dagster_job_of_the_spark_engine_runs_its_four_steps_in_order(tmp_path):
    """`JOURNEY_ENGINE=spark dagster dev`: the nightly job is the Spark engine's steps, partitioned by export date
    like the DuckDB job (its run on the sample is in tests/test_spark.py); an unknown engine is refused."""
    from orchestration.definitions import NIGHTLY_JOB, build_definitions

    defs = build_definitions(warehouse=tmp_path / "spark", landing=SAMPLE_LANDING, engine="spark")
    graph = defs.resolve_asset_graph()
    keys = ["spark/books", "spark/raw", "spark/models", "spark/published"]
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(keys)
    for upstream, downstream in zip(keys, keys[1:], strict=False):
        parents = graph.get(dg_key(downstream)).parent_keys
        assert {p.to_user_string() for p in parents} == {upstream}
    job = defs.resolve_job_def(NIGHTLY_JOB)
    assert job.partitions_def is not None and "2026-10-31" in job.partitions_def.get_partition_keys()
    assert defs.resources["warehouse"].published == tmp_path / "spark"
    with pytest.raises(ValueError, match="the engine is duckdb"):
        build_definitions(warehouse=tmp_path / "w.duckdb", landing=SAMPLE_LANDING, engine="snowflake")


def dg_key(text: str):
    import dagster as dg

    return dg.AssetKey(text.split("/"))


def _books_with_two_files(path: Path) -> None:
    from orchestration.lib.warehouse import connect, ensure_tables

    con = connect(str(path))
    try:
        ensure_tables(con)
        con.execute("insert into ops.loaded_files (source, file_path, file_sha256, rows_read, rows_loaded, "
                    "rows_quarantined, status) values ('orders', 'orders/a.csv', 'h1', 10, 8, 2, 'loaded'), "
                    "('reviews', 'reviews/b.csv', 'h2', 5, 5, 0, 'loaded')")
        con.execute("insert into ops.field_issues (source, _source_file, _row_number, column_name) values "
                    "('orders', 'orders/a.csv', 3, 'birth_date'), ('orders', 'orders/a.csv', 4, 'birth_date')")
    finally:
        con.close()


def test_the_books_count_an_erasures_rows_once_and_list_its_identifiers(tmp_path, monkeypatch):
    """The books' half of an erasure on Spark (orchestration/spark_privacy.py): the rows the Spark step removed move
    from loaded / quarantined to suppressed in their files' books, their field issues go, and the person's node
    hashes join ops.suppressions. Applied again (a run killed after it, run again: the Spark step returns the
    same rows from privacy.erased_rows), nothing is counted twice."""
    from orchestration.lib.privacy import KEY_ENV, forget
    from orchestration.spark_privacy import SparkErasure, apply_to_books

    monkeypatch.setenv(KEY_ENV, "k")
    books = tmp_path / "books.duckdb"
    _books_with_two_files(books)
    request = forget(books, [("email", "ann@example.com")], "ticket 1").request_id
    erasure = SparkErasure([request], 1, 2, ["hash-of-node-1", "hash-of-node-2"], {"raw.orders": 2},
                           [["orders", "orders/a.csv", 3, "raw"], ["orders", "orders/a.csv", 9, "quarantine"],
                            ["reviews", "reviews/b.csv", 1, "raw"]])
    for attempt in range(2):
        con = duckdb.connect(str(books))
        try:
            apply_to_books(con, books, erasure)
            assert con.execute("select source, rows_read, rows_loaded, rows_quarantined, rows_suppressed "
                               "from ops.loaded_files order by 1").fetchall() == [
                ("orders", 10, 7, 1, 2), ("reviews", 5, 4, 0, 1)], attempt
            assert con.execute("select _row_number from ops.field_issues").fetchall() == [(4,)]
            hashes = {r[0] for r in con.execute("select hash from ops.suppressions").fetchall()}
            assert {"hash-of-node-1", "hash-of-node-2"} <= hashes and len(hashes) == 3
        finally:
            con.close()


def test_a_stale_erasure_file_is_not_applied(tmp_path, monkeypatch):
    """erasure.json of a request that is no longer pending (its generation was published, the file left behind) is
    ignored; without a pending request the erase step removes it and starts no Spark."""
    import json

    from orchestration.lib.privacy import KEY_ENV, forget
    from orchestration.runner import RunSummary
    from orchestration.spark_privacy import SparkErasure, record_in_books

    monkeypatch.setenv(KEY_ENV, "k")
    folder = tmp_path / "spark"
    folder.mkdir()
    books = folder / spark_run.BOOKS
    _books_with_two_files(books)
    request = forget(books, [("email", "ann@example.com")]).request_id
    run = spark_run.SparkRun(SAMPLE_LANDING, folder, Path(sys.executable), RunSummary("r", False, False, folder), sys.stderr)
    erasure = SparkErasure([request], 1, 1, ["h"], {"raw.orders": 1}, [])
    run.erasure_file.write_text(json.dumps(erasure.__dict__), encoding="utf-8")
    assert run.erasure_requested() and run.erasure() == erasure
    assert record_in_books(books, erasure, "r") == [(request, 1)]
    assert not run.erasure_requested() and run.erasure() is None
    monkeypatch.setattr(run, "spark_step", lambda *a: pytest.fail("no Spark step without a pending request"))
    run.erase()
    assert not run.erasure_file.exists()
