"""`journey run --engine spark` on the bundled sample equals the DuckDB run, over two nights (issue 17; docs/spark.md).

Marker `spark`, in .venv-spark: `make test` runs all but the tests marked `spark_lifecycle` (rollback, a failed
mart gate, an erasure), after its other tests; `make test-spark` runs them all. DuckDB: `journey backfill` of the
sample's first export dates up to SPLIT (a copy of that warehouse is kept), then `journey run` of the rest. Spark, with the same privacy
key: `journey backfill --engine spark` of the same dates (generation 1), then the rest through the Spark engine's
Dagster job (generation 2). orchestration/lib/spark_compare.py compares every table of generation 1 with the DuckDB
backfill, row for row; after the second night, every table of generation 2 (its staging and identity's record models
built incrementally from generation 1, the other models rebuilt) with the DuckDB warehouse after its incremental
second night, but the tables that list a build's own scope; the customer ids of every identifier and the merge log
equal DuckDB's. Then the generations: rollback shows 1 again, and a generation whose mart gate fails is not
published.

EQUAL_ON_SPARK lists the tables that are equal today; each is a test. A table that becomes equal moves into it
(test_the_list_of_equal_tables_is_complete fails until it does, so the list never lags behind what Spark builds).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import NIGHTLY_JOB, build_definitions
from orchestration.defs.partitions import partition_range_tags
from orchestration.defs.resources import scoped_environment
from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, customer_id_key
from orchestration.lib.privacy import KEY_ENV, key_path, normalise, normalised_sql
from orchestration.lib.report import build_charts, build_spark_charts
from orchestration.lib.spark_compare import BUILD_TIME_TABLE, build_starts, compare_warehouses, spark_table_folder
from orchestration.spark_ingest import STAGING, clear_staging, staging_folder
from orchestration.spark_run import SCHEMA_SUFFIX_ENV, SPARK_WAREHOUSE_ENV
from orchestration.spark_steps import GENERATIONS_FILE
from rules.contract import SOURCES
from rules.thresholds import TIMESTAMP_FLOOR_ENV
from tests.helpers import DBT_DIR, SAMPLE_LANDING

pytestmark = [pytest.mark.spark, pytest.mark.slow]

EQUAL_ON_SPARK = [
    "intermediate.int_customers__activity", "intermediate.int_customers__changed",
    "intermediate.int_customers__open_carts", "intermediate.int_customers__profiles",
    "intermediate.int_customers__purchase_days", "intermediate.int_identity__attribute_observations",
    "intermediate.int_identity__changed_links", "intermediate.int_identity__changed_nodes",
    "intermediate.int_identity__changed_records", "intermediate.int_identity__components",
    "intermediate.int_identity__consent_signals", "intermediate.int_identity__customer_consent",
    "intermediate.int_identity__customer_id_map", "intermediate.int_identity__dirty_customers",
    "intermediate.int_identity__edge_scope", "intermediate.int_identity__edges",
    "intermediate.int_identity__event_stitches", "intermediate.int_identity__fuzzy_matches",
    "intermediate.int_identity__golden_attributes", "intermediate.int_identity__graph_components",
    "intermediate.int_identity__graph_scope", "intermediate.int_identity__household_values",
    "intermediate.int_identity__identifier_guards", "intermediate.int_identity__identifier_values",
    "intermediate.int_identity__oversized_components", "intermediate.int_identity__person_records",
    "intermediate.int_identity__previous_links", "intermediate.int_identity__previous_record_identifiers",
    "intermediate.int_identity__record_customers", "intermediate.int_identity__record_identifiers",
    "intermediate.int_identity__records", "intermediate.int_identity__stitch_candidates",
    "intermediate.int_journeys__attribution_credits", "intermediate.int_journeys__channel_matches",
    "intermediate.int_journeys__markov_removal_effects", "intermediate.int_journeys__path_touches",
    "intermediate.int_journeys__paths", "intermediate.int_journeys__rebuild_scope",
    "intermediate.int_journeys__touchpoints_sessionized", "intermediate.int_journeys__touchpoints_unioned",
    "marts.customer_identifiers", "marts.customer_merges", "marts.customer_predictions",
    "marts.prediction_backtest", "marts.prediction_model_parameters", "marts.dim_customers", "marts.fct_attribution",
    "marts.fct_attribution_daily", "marts.fct_channel_transitions", "marts.fct_conversion_paths",
    "marts.fct_customer_journeys", "marts.fct_customer_lifecycle_weeks", "marts.fct_funnel_progress",
    "marts.fct_funnels", "marts.fct_markov_channel_attribution", "marts.fct_retention_cohorts", "marts.fct_sessions",
    "marts.fct_touchpoints", "reference.customer_prediction_segments", "reference.customer_value_tiers",
    "reference.identity_fuzzy_parameters", "reference.identity_identifier_types", "reference.identity_nicknames",
    "reference.identity_placeholder_values", "reference.identity_source_priority",
    "reference.identity_survivorship_rules", "reference.identity_tracked_url_parameters",
    "reference.journey_channel_rules", "reference.journey_currency_rates", "reference.journey_funnel_steps",
    "reference.journey_stage_rules", "reference.staging_enum_values", "staging.stg_app__events",
    "staging.stg_crm__contacts", "staging.stg_email__events", "staging.stg_pos__transactions",
    "staging.stg_reviews__reviews", "staging.stg_shop__orders", "staging.stg_support__tickets",
    "staging.stg_web__events",
]


def _journey(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], env=env, capture_output=True, text=True,
                          check=False)


def _step(*args: str, env: dict[str, str]) -> dict:
    """One step of orchestration/spark_steps.py (a process of its own: the Derby metastore admits one JVM)."""
    result = subprocess.run([sys.executable, "-m", "orchestration.spark_steps", *args], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _generations(warehouse: Path) -> dict:
    return json.loads((warehouse / GENERATIONS_FILE).read_text(encoding="utf-8"))


FIRST, SPLIT, LAST = "2026-09-02", "2026-10-10", "2026-10-31"  # the sample's export dates; the first night's last


NEW_COLUMN_FILE = ("orders", "2026-10-20", "orders_2026-10-20.csv")  # the second night brings a new column


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """The sample, but one of the second night's order exports carries a column the contract does not know
    (`coupon_code`): ingestion keeps it in raw, and Spark's raw table must grow it."""
    root = tmp_path_factory.mktemp("landing") / "landing"
    shutil.copytree(SAMPLE_LANDING, root)
    path = root.joinpath(*NEW_COLUMN_FILE)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows = [rows[0] + ["coupon_code"]] + [row + [f"C-{i}"] for i, row in enumerate(rows[1:])]
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return root


@pytest.fixture(scope="module")
def duck_nights(landing, tmp_path_factory):
    """DuckDB: the backfill up to SPLIT (its warehouse copied aside, and what it printed), then the rest."""
    folder = tmp_path_factory.mktemp("duck_nights")
    warehouse = folder / "journey.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    first = _journey("backfill", "--from", FIRST, "--to", SPLIT, "--landing", str(landing), "--warehouse",
                     str(warehouse), env=env)
    assert first.returncode == 0, first.stdout[-3000:]
    prefix = folder / "first_night" / "journey.duckdb"
    prefix.parent.mkdir()
    shutil.copyfile(warehouse, prefix)
    second = _journey("run", "--landing", str(landing), "--warehouse", str(warehouse), env=env)
    assert second.returncode == 0, second.stdout[-3000:]
    return prefix, warehouse, first.stdout


@pytest.fixture(scope="module")
def spark_env(duck_nights) -> dict[str, str]:
    """No JOURNEY_* setting of the caller; the DuckDB warehouse's privacy key, so both engines make the same
    customer ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    env[KEY_ENV] = key_path(duck_nights[1]).read_text(encoding="utf-8").strip()
    return env


@pytest.fixture(scope="module")
def spark_build(landing, spark_env, tmp_path_factory):
    """`journey backfill --engine spark` of the first night's dates into a new Spark warehouse: generation 1."""
    warehouse = tmp_path_factory.mktemp("spark") / "warehouse"
    run = _journey("backfill", "--engine", "spark", "--from", FIRST, "--to", SPLIT, "--warehouse", str(warehouse),
                   "--landing", str(landing), env=spark_env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    return run.stdout, warehouse


def _dbt_on_spark(args: list[str], env: dict[str, str], spark_warehouse: Path) -> subprocess.CompletedProcess:
    """One dbt invocation with the `spark` target (a process of its own: the Derby metastore admits one JVM)."""
    target = spark_warehouse.parent / "dbt-target"
    env = {**env, "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    return subprocess.run([str(Path(sys.executable).parent / "dbt"), *args, "--target", "spark", "--profiles-dir",
                           str(DBT_DIR), "--project-dir", str(DBT_DIR)], cwd=DBT_DIR, env=env, capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def comparison(duck_nights, spark_build):
    _, spark_warehouse = spark_build
    return {result.name: result for result in compare_warehouses(duck_nights[0], spark_warehouse, generation=1)}


def _summary_parts(text: str) -> tuple[list[str], str, str, str]:
    """The books' lines (source, new files, read, loaded, quarantined), the quarantine reasons, the counts line and
    the checks line of a run's summary."""
    lines = text.splitlines()
    books = [line for line in lines if line.split()[:1] and line.split()[0] in SOURCES and not line.startswith(" ")]
    reasons = text.split("quarantined rows by rule:")[1].split("customers:")[0] if "by rule:" in text else ""
    counts = next(line for line in lines if line.startswith("customers:"))
    checks = next(line for line in lines if line.startswith("checks:"))
    return books, reasons, counts, checks


def test_the_spark_run_prints_the_duckdb_runs_summary(duck_nights, spark_build):
    """The same books per source (files, rows read, loaded, quarantined), quarantine reasons, customers and
    touchpoints as the DuckDB run of the same exports; every check passed and the run published."""
    printed, warehouse = spark_build
    assert "OK" in printed.splitlines()[0] and f"warehouse: {warehouse} (published)" in printed, printed
    books, reasons, counts, checks = _summary_parts(printed)
    duck_books, duck_reasons, duck_counts, duck_checks = _summary_parts(duck_nights[2])
    assert books == duck_books and len(books) == len(SOURCES)
    assert reasons == duck_reasons and counts == duck_counts
    # the raw gates (quality, reject rate, volume of each source) and the ten mart gates; the DuckDB run has more
    # checks (Dagster's asset checks of dbt's tests too)
    passed = int(checks.split()[1])
    assert checks == f"checks: {passed} passed, 0 failed" and passed == 3 * len(SOURCES) + 10, checks
    assert int(duck_checks.split()[1]) >= passed


def test_the_spark_run_writes_the_journey_report(duck_nights, spark_build):
    """The first night's run drew the journey report of its published generation (read from the Parquet files, no
    Spark session) beside its quality reports and named it last, as the DuckDB run does; its charts show the
    numbers of the DuckDB report of the same night (doubles to 1e-6, relative)."""
    out, warehouse = spark_build
    report = warehouse / "quality_reports" / "journey_report.html"
    assert f"journey report (open in a browser): {report}" in out.strip().splitlines()[-1]
    assert report.stat().st_size > 0
    on_spark, _ = build_spark_charts(warehouse)
    on_duckdb, _ = build_charts(duck_nights[0])
    assert [c.key for c in on_spark] == [c.key for c in on_duckdb]
    for spark_chart, duck_chart in zip(on_spark, on_duckdb, strict=True):
        assert not spark_chart.empty, spark_chart.key
        _assert_close(spark_chart.figure.to_plotly_json()["data"], duck_chart.figure.to_plotly_json()["data"],
                      spark_chart.key)


def _assert_close(a, b, where: str) -> None:
    """Plotly figure data equal, numbers to 1e-6 (relative)."""
    if hasattr(a, "tolist"):
        a = a.tolist()
    if hasattr(b, "tolist"):
        b = b.tolist()
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9), where
    else:
        assert a == b, where


def test_readers_see_the_published_generation(spark_build, spark_env):
    """The readers' views of `marts` read the published generation's tables; raw history lives in Spark and the
    books keep the registry only."""
    _, warehouse = spark_build
    assert _generations(warehouse) == {"published": 1, "previous": None}
    views = _step("views", str(warehouse), env=spark_env)
    assert {"dim_customers", "fct_touchpoints", "fct_attribution", "customer_360", "customer_predictions"} <= set(views)
    assert set(views.values()) == {"marts__g1"}, views
    con = duckdb.connect(str(warehouse / "books.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from raw.orders").fetchone()[0] == 0
        assert con.execute("select count(*) from ops.loaded_files").fetchone()[0] > 0
    finally:
        con.close()


def test_raw_history_lives_in_spark_only(spark_build):
    """After a run the executors' staging folder is gone, the books hold the registry and no rows, and Spark's raw
    and quarantine tables hold every row the books count as loaded and quarantined."""
    _, warehouse = spark_build
    assert not (warehouse / STAGING).exists()
    con = duckdb.connect(str(warehouse / "books.duckdb"), read_only=True)
    try:
        counted = {source: (int(loaded), int(quarantined)) for source, loaded, quarantined in con.execute(
            "select source, sum(rows_loaded), sum(rows_quarantined) from ops.loads group by 1").fetchall()}
        assert all(con.execute(f"select count(*) from raw.{source}").fetchone()[0] == 0 for source in SOURCES)
    finally:
        con.close()
    raw, quarantined = _raw_rows(warehouse), _raw_rows(warehouse, "quarantine")
    assert sum(raw.values()) > 0
    assert {source: (raw[source], quarantined[source]) for source in SOURCES} == counted


@pytest.mark.parametrize("table", EQUAL_ON_SPARK)
def test_the_table_built_on_spark_equals_duckdbs(comparison, table):
    """Same rows (spark_compare's allowances only: no run-time stamps, each build's start time as one mark, doubles
    within 2e-6; money and every other value exactly)."""
    assert comparison[table].equal, comparison[table].describe()


def test_the_list_of_equal_tables_is_complete(comparison):
    """Every table Spark builds equal to DuckDB's is listed (and so pinned) in EQUAL_ON_SPARK."""
    equal = sorted(name for name, result in comparison.items() if result.equal)
    assert sorted(EQUAL_ON_SPARK) == equal, "\n".join(r.describe() for r in comparison.values())


def test_a_difference_is_found(duck_nights, spark_build, tmp_path):
    """The comparison sees one changed value (so an 'equal' above is not a comparison that cannot fail)."""
    _, spark_warehouse = spark_build
    changed = tmp_path / "journey.duckdb"
    shutil.copyfile(duck_nights[0], changed)
    con = duckdb.connect(str(changed))
    try:
        con.execute("update staging.stg_shop__orders set total_amount = total_amount + 0.01 "
                    "where order_id = (select min(order_id) from staging.stg_shop__orders where total_amount is not null)")
    finally:
        con.close()
    result = {r.name: r for r in compare_warehouses(changed, spark_warehouse, schemas=("staging",), generation=1)}
    assert not result["staging.stg_shop__orders"].equal
    orders = result["staging.stg_shop__orders"]
    assert orders.duckdb_rows == orders.spark_rows and orders.only_in_duckdb == orders.only_in_spark >= 1


def test_components_that_need_more_rounds_than_allowed_fail_the_build(spark_build, spark_env):
    """On Spark the label rounds run until no label changes, at most var identity_label_rounds of them: the sample's
    identity graph needs more than one, so with one the model fails and says so (instead of leaving labels
    unfinished). The model raises before it writes its table, so the compared tables stay as built."""
    _, spark_warehouse = spark_build
    env = {**spark_env, SPARK_WAREHOUSE_ENV: str(spark_warehouse), SCHEMA_SUFFIX_ENV: "__g1",
           CUSTOMER_ID_KEY_ENV: customer_id_key(spark_env[KEY_ENV])}
    result = _dbt_on_spark(["run", "--select", "int_identity__graph_components", "--vars", "identity_label_rounds: 1"],
                           env, spark_warehouse)
    assert result.returncode != 0
    assert "labels still changed after 1 rounds (var identity_label_rounds)" in result.stdout, result.stdout[-3000:]


def test_the_second_night_carries_customer_ids_and_the_merge_log(landing, duck_nights, spark_build, spark_env):
    """The rest of the sample's dates through the Spark engine's Dagster job (`JOURNEY_ENGINE=spark dagster dev`):
    it loads and ships only the new files and publishes generation 2 (1 kept as the previous). Its customer-id map
    (every identifier's customer, first customer, state and assignment) and merge log equal the DuckDB warehouse's
    after the same two nights: the merges of the second night are recorded as on DuckDB."""
    _, warehouse = spark_build
    first_night = _raw_rows(warehouse)
    defs = build_definitions(warehouse=warehouse, landing=landing, engine="spark")
    tags = partition_range_tags(date.fromisoformat(SPLIT) + timedelta(days=1), date.fromisoformat(LAST),
                                date.fromisoformat(FIRST))
    with scoped_environment(**{KEY_ENV: spark_env[KEY_ENV]}):
        result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), tags=tags, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "spark/books", "spark/raw", "spark/models", "spark/published"}
    assert _generations(warehouse) == {"published": 2, "previous": 1}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g2"}
    duck = duck_nights[1]
    raw = _raw_rows(warehouse)
    con = duckdb.connect(str(duck), read_only=True)
    try:
        assert raw == {s: con.execute(f"select count(*) from raw.{s}").fetchone()[0] for s in SOURCES}
        # the new export column: Spark's raw table grew it, with the values of the file that brought it
        coupons = con.execute("select count(coupon_code) from raw.orders").fetchone()[0]
        assert coupons > 0 and con.execute(
            f"select count(coupon_code) from read_parquet('{warehouse}/tables/raw.db/orders/*/*.parquet', "
            "union_by_name = true)").fetchone()[0] == coupons
        assert all(raw[s] >= first_night[s] for s in SOURCES) and raw != first_night
        _assert_same_identity(con, warehouse, 2)
        assert con.execute("select count(*) from marts.customer_merges where change_type = 'merge'").fetchone()[0] > 0
        assert con.execute("select count(*) from intermediate.int_identity__customer_id_map "
                           "where assignment = 'inactive'").fetchone()[0] > 0
    finally:
        con.close()


def test_the_second_night_equals_duckdbs_and_its_ported_models_were_incremental(duck_nights, spark_build):
    """Generation 2 (the second night, built from generation 1) against the DuckDB warehouse after the same two nights:
    every table of EQUAL_ON_SPARK is equal, the tables that list what the night's build reworked (its scope: dirty
    customers, the graph's and the journeys' rebuild scope) and the journeys' bookkeeping columns (the export date
    of the delivery that last changed a record, where the night's sessionizing started) included, as a Spark build
    of a ported model works on the night's scope as DuckDB's does. The models ported to Spark's incremental form
    (docs/spark.md "Incremental builds") were built from generation 1's tables: the statement dbt ran for each reads
    it, and the staging tables hold rows stamped by generation 1's build (`_changed_at`, kept for the keys the
    second night did not deliver) beside the second night's own, where a rebuild from raw would stamp every row with
    its start."""
    _, warehouse = spark_build
    results = {r.name: r for r in compare_warehouses(duck_nights[1], warehouse, generation=2)}
    expected = sorted(EQUAL_ON_SPARK)
    equal = sorted(name for name, result in results.items() if result.equal)
    assert equal == expected, "\n".join(results[name].describe() for name in sorted(set(equal) ^ set(expected)))
    statements = {path.stem: path.read_text(encoding="utf-8")
                  for path in (warehouse / "dbt-target" / "run").rglob("*.sql")}
    for name in INCREMENTAL_ON_SPARK:
        schema, model = name.split(".")
        assert f"{schema}__g1.{model}" in statements[model], f"{name} was not built from generation 1"
    # the guards' night reads its chain of CTEs from the tables cte_tables wrote (Spark re-plans a CTE at every
    # reference: inline, the night's statement runs out of the driver's heap or takes minutes); the batch's select
    # is the model's compiled code (the run folder holds the statement that writes the table from the batch)
    guards = next((warehouse / "dbt-target" / "compiled").rglob("int_identity__identifier_guards.sql")).read_text(
        encoding="utf-8")
    assert all(f"int_identity__identifier_guards__cte_{cte}" in guards for cte in (
        "multi_core_values", "recount_core", "core_guards", "touched_core_values", "core_region", "region_records")), \
        "the guards' CTEs were not written to tables of their own"
    con = duckdb.connect()
    try:
        for model in (name.split(".")[1] for name in INCREMENTAL_ON_SPARK if name.startswith("staging.")):
            folder = spark_table_folder(warehouse, "staging", model, 2)
            stamps = con.execute(f"select count(distinct _changed_at) from read_parquet('{folder}/*.parquet')"
                                 ).fetchone()[0]
            assert stamps == 2, (model, stamps)
    finally:
        con.close()


def test_a_load_the_books_do_not_hold_is_dropped_from_raw(spark_build, spark_env, tmp_path):
    """A run that shipped and then stopped before keeping its books: the next shipping drops the partitions of the
    loads the books do not hold (their files are loaded again), so no file is ever twice in raw. Here a books file
    with one load more ships its staged row of reviews, and the warehouse's own books then drop it again; the
    warehouse is left as it was, for the tests after this one."""
    _, warehouse = spark_build
    books = tmp_path / "books.duckdb"
    shutil.copyfile(warehouse / "books.duckdb", books)
    staged = staging_folder(warehouse, "raw", "reviews", "stopped-run-load")
    staged.mkdir(parents=True)
    con = duckdb.connect(str(books))
    try:
        con.execute("insert into ops.loads (load_id, source, run_id, rows_loaded, rows_quarantined) "
                    "values ('stopped-run-load', 'reviews', 'stopped', 1, 0)")
        con.execute("copy (select 'stopped-run-load' as _load_id, 'reviews/x.csv' as _source_file, "
                    f"1::bigint as _row_number, 'R-stopped' as review_id) to '{staged / 'part-00000.parquet'}' "
                    "(format parquet)")
    finally:
        con.close()
    before = _raw_rows(warehouse)
    shipped = _step("ship", str(books), str(warehouse), env=spark_env)
    clear_staging(warehouse)
    assert shipped["raw.reviews"] == 1 and _raw_rows(warehouse) == {**before, "reviews": before["reviews"] + 1}
    shipped = _step("ship", str(warehouse / "books.duckdb"), str(warehouse), env=spark_env)
    assert set(shipped.values()) == {0}
    assert _raw_rows(warehouse) == before
    assert not (warehouse / "tables" / "raw.db" / "reviews" / "_load_id=stopped-run-load").exists()


@pytest.mark.spark_lifecycle
def test_rollback_and_a_failed_mart_gate(spark_build, spark_env):
    """Rollback shows generation 1 again; a generation whose mart gate fails (a timestamp floor after the sample's
    first touchpoints) is not published and the readers' views stay where they were; with the gate passing it is."""
    _, warehouse = spark_build
    assert _generations(warehouse) == {"published": 2, "previous": 1}
    rolled = _journey("rollback", "--engine", "spark", "--warehouse", str(warehouse), env=spark_env)
    assert rolled.returncode == 0 and "generation 1" in rolled.stdout, rolled.stdout + rolled.stderr
    assert _generations(warehouse) == {"published": 1, "previous": 2}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g1"}

    reports = warehouse / "quality_reports"
    failed = _step("finish", str(warehouse), "2", str(reports),
                   env={**spark_env, TIMESTAMP_FLOOR_ENV: "2026-10-01"})
    assert failed["published"] is False
    touchpoints = next(g for g in failed["gates"] if g["name"] == "fct_touchpoints_quality")
    assert not touchpoints["passed"] and "timestamp_not_before_floor" in touchpoints["detail"], touchpoints
    assert _generations(warehouse) == {"published": 1, "previous": 2}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g1"}

    passed = _step("finish", str(warehouse), "2", str(reports), env=spark_env)
    assert passed["published"] is True and all(g["passed"] for g in passed["gates"])
    assert _generations(warehouse) == {"published": 2, "previous": 1}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g2"}


# The models built incrementally on Spark: those the dbt project marks `incremental_materialization(spark_incremental=
# true)`, read from the project so that a model ported later is checked too (schema: the models/ folder it is in).
INCREMENTAL_ON_SPARK = sorted(
    f"{path.relative_to(DBT_DIR / 'models').parts[0]}.{path.stem}"
    for path in (DBT_DIR / "models").rglob("*.sql")
    if "incremental_materialization(spark_incremental=true)" in path.read_text(encoding="utf-8"))
def _assert_same_identity(con: duckdb.DuckDBPyConnection, warehouse: Path, generation: int) -> None:
    """The customer-id map (every identifier's customer, first customer, state, assignment) and the merge log of a
    Spark generation equal the DuckDB warehouse's (`con`)."""
    id_map = "select node_id, customer_id, first_customer_id, is_active, assignment, previous_customer_id from {}"
    merges = "select old_customer_id, new_customer_id, change_type, reason, identifier_count from {}"
    for sql, name in ((id_map, "intermediate.int_identity__customer_id_map"), (merges, "marts.customer_merges")):
        schema, table = name.split(".")
        spark_rows = sorted(con.execute(sql.format(
            f"read_parquet('{spark_table_folder(warehouse, schema, table, generation)}/*.parquet')")).fetchall(),
            key=str)
        duck_rows = sorted(con.execute(sql.format(name)).fetchall(), key=str)
        assert spark_rows == duck_rows, name


@pytest.mark.spark_lifecycle
def test_an_erasure_on_spark_equals_duckdbs(landing, duck_nights, spark_build, spark_env, tmp_path):
    """`journey forget --engine spark` of two people (a customer id a merge of the second night retired, and an
    e-mail that quarantined rows hold), a run killed after its erasure step, then a run without new files, against
    the same on a copy of the DuckDB warehouse: the same raw and quarantined rows removed, the same books (rows
    moved from loaded and quarantined to suppressed), the same people found, the same suppression list; the new
    generation's id map and merge log equal DuckDB's, it holds nothing of them, and every older generation (they
    hold the people) is dropped."""
    _, warehouse = spark_build
    duck = tmp_path / "journey.duckdb"
    shutil.copyfile(duck_nights[1], duck)
    shutil.copyfile(key_path(duck_nights[1]), key_path(duck))
    con = duckdb.connect(str(duck), read_only=True)
    try:
        merged, merged_into = con.execute("select old_customer_id, new_customer_id from marts.customer_merges "
                                          "where change_type = 'merge' order by 1 limit 1").fetchone()
        quarantine = " union all ".join(f"select _record from quarantine.{s}" for s in SOURCES)
        email = con.execute(f"select d.email from marts.dim_customers d join ({quarantine}) q "
                            "on contains(lower(q._record), lower(d.email)) where d.customer_id <> ? "
                            "group by 1 order by count(*) desc, 1 limit 1", [merged_into]).fetchone()[0]
    finally:
        con.close()
    forget = ["forget", "--customer-id", merged, "--email", email, "--reason", "ticket 42"]
    for args in ([*forget, "--warehouse", str(duck)], [*forget, "--engine", "spark", "--warehouse", str(warehouse)]):
        listed = _journey(*args, env=spark_env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
    # a Spark run killed right after its erasure step: the rows are gone from raw, nothing else is kept; the next
    # run's erasure step must still find both people (the published generation was only read) and count the rows
    before = _raw_rows(warehouse)
    killed = _step("erase", str(warehouse), str(warehouse / "books.duckdb"), env=spark_env)
    assert killed["customers"] >= 2 and killed["node_hashes"] and sum(_raw_rows(warehouse).values()) < sum(
        before.values())
    runs = [_journey("run", "--landing", str(landing), "--warehouse", str(duck), env=spark_env),
            _journey("run", "--engine", "spark", "--landing", str(landing), "--warehouse", str(warehouse),
                     env=spark_env)]
    for run in runs:
        assert run.returncode == 0 and " applied: " in run.stdout, run.stdout[-4000:] + run.stderr[-3000:]
    assert _generations(warehouse) == {"published": 3, "previous": None}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g3"}
    assert not list((warehouse / "tables").glob("*__g[12].db")), "a generation holding the people was kept"
    assert not (warehouse / "erasure.json").exists()
    assert not list((warehouse / "tables").glob("*__erasure.db")) and not list((warehouse / "tables").glob("*/*__erasing"))
    con = duckdb.connect(str(duck), read_only=True)
    con.execute(f"attach '{warehouse / 'books.duckdb'}' as books (read_only)")
    try:
        assert _raw_rows(warehouse) == {s: con.execute(f"select count(*) from raw.{s}").fetchone()[0] for s in SOURCES}
        assert _raw_rows(warehouse, "quarantine") == {
            s: con.execute(f"select count(*) from quarantine.{s}").fetchone()[0] for s in SOURCES}
        files = ("select source, file_path, rows_read, rows_loaded, rows_quarantined, rows_suppressed "
                 "from {}.ops.loaded_files order by all")
        duck_files = con.execute(files.format("journey")).fetchall()
        assert con.execute(files.format("books")).fetchall() == duck_files
        assert sum(f[-1] for f in duck_files) > 0
        found = "select customers, identifiers from {}.ops.erasures"
        assert con.execute(found.format("books")).fetchall() == con.execute(found.format("journey")).fetchall()
        hashes = "select distinct hash from {}.ops.suppressions order by 1"
        assert con.execute(hashes.format("books")).fetchall() == con.execute(hashes.format("journey")).fetchall()
        _assert_same_identity(con, warehouse, 3)
        customers = spark_table_folder(warehouse, "marts", "dim_customers", 3)
        assert con.execute(f"select count(*) from read_parquet('{customers}/*.parquet') where lower(email) = lower(?)",
                           [email]).fetchone()[0] == 0
    finally:
        con.close()


FULL_REFRESH_DATES = ("2026-09-02", "2026-09-08")  # a week of the sample: the test builds two warehouses of its own


@pytest.mark.spark_lifecycle
def test_a_full_refresh_on_spark_rebuilds_from_raw_and_equals_duckdbs(tmp_path):
    """`journey backfill --engine spark --full-refresh` of dates already loaded: no file is loaded again, and
    generation 2 is built from raw. Every staging table's rows carry its build's stamp, none of generation 1's (an
    incremental build of a night that delivered nothing keeps every stored row), and every table equals the DuckDB
    warehouse's after the same backfill and `journey backfill --full-refresh`."""
    start, end = FULL_REFRESH_DATES
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    duck = tmp_path / "duck" / "journey.duckdb"
    schema, table = BUILD_TIME_TABLE
    first_builds = []  # the first build's start on each side: the full refresh stamps every row again
    for extra in ([], ["--full-refresh"]):
        run = _journey("backfill", "--from", start, "--to", end, "--landing", str(SAMPLE_LANDING), "--warehouse",
                       str(duck), *extra, env=env)
        assert run.returncode == 0, run.stdout[-3000:]
        if not extra:
            with duckdb.connect(str(duck), read_only=True) as con:
                con.execute("set TimeZone = 'UTC'")
                first_builds.append(build_starts(con, f"{schema}.{table}"))
    env[KEY_ENV] = key_path(duck).read_text(encoding="utf-8").strip()
    spark = tmp_path / "spark"
    for extra in ([], ["--full-refresh"]):
        run = _journey("backfill", "--engine", "spark", "--from", start, "--to", end, "--landing", str(SAMPLE_LANDING),
                       "--warehouse", str(spark), *extra, env=env)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    assert _generations(spark) == {"published": 2, "previous": 1}
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for model in (name.split(".")[1] for name in INCREMENTAL_ON_SPARK if name.startswith("staging.")):
            stamps = {generation: set(build_starts(
                con, f"read_parquet('{spark_table_folder(spark, 'staging', model, generation)}/*.parquet')"))
                for generation in (1, 2)}
            assert len(stamps[2]) == 1 and not stamps[2] & stamps[1], (model, stamps)
        first_builds.append(build_starts(con, f"read_parquet('{spark_table_folder(spark, schema, table, 1)}/*.parquet')"))
    results = {r.name: r for r in compare_warehouses(duck, spark, generation=2,
                                                     earlier_builds=tuple(first_builds))}
    unequal = sorted(name for name in EQUAL_ON_SPARK if not results[name].equal)
    assert not unequal, "\n".join(results[name].describe() for name in unequal)


def _raw_rows(warehouse: Path, schema: str = "raw") -> dict[str, int]:
    """Rows of each raw (or quarantine) table on Spark, read from its Parquet files (no Spark session needed)."""
    con = duckdb.connect()
    try:
        return {source: con.execute(f"select count(*) from read_parquet('{folder}/*/*.parquet', union_by_name = true)"
                                    ).fetchone()[0] if list(folder.glob("*/*.parquet")) else 0
                for source in SOURCES for folder in [warehouse / "tables" / f"{schema}.db" / source]}
    finally:
        con.close()


NORMALISATION_CASES = [
    ("email", " Ann.Lee@Example.COM\u00a0"), ("email", "\t\n"), ("email", "plain"),
    ("phone", "+44 20 7946 0958"), ("phone", "(503) 245-8540"), ("phone", "1-503-245-8540"), ("phone", "+1 234"),
    ("phone", "245-8540"), ("phone", "\u00a0+1 (503) 245 8540 "), ("phone", "2-503-245-8540"),
    ("user_id", " U-17 "), ("loyalty_id", ""),
]


def test_spark_normalises_identifiers_as_ingestion_does(tmp_path):
    """An erasure on Spark finds raw rows carrying a listed identifier by normalising and hashing it in Spark SQL
    (privacy.normalised_sql, dialect spark): the same values as the Python and DuckDB normalisation, for e-mails
    with spaces, case and a no-break space, and phones in every form the rule knows."""
    script = (
        "import json, sys\n"
        "from pyspark.sql import SparkSession\n"
        "from orchestration.lib.privacy import normalised_sql\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        "cases = json.loads(sys.argv[1])\n"
        "frame = spark.createDataFrame([(i, v) for i, (_, v) in enumerate(cases)], 'i int, value string')\n"
        "out = [frame.where(f'i = {i}').selectExpr(normalised_sql(t, 'value', dialect='spark')).collect()[0][0]\n"
        "       for i, (t, _) in enumerate(cases)]\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(NORMALISATION_CASES)], env=env,
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    on_spark = json.loads(result.stdout.strip().splitlines()[-1])
    con = duckdb.connect()
    try:
        on_duckdb = [con.execute(f"select {normalised_sql(t, '$v')}", {"v": v}).fetchone()[0]
                     for t, v in NORMALISATION_CASES]
    finally:
        con.close()
    assert on_spark == on_duckdb == [normalise(t, v) for t, v in NORMALISATION_CASES]
    assert on_spark[3] == "+442079460958" and on_spark[1] is None
