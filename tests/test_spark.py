"""`journey run --engine spark` on the bundled sample equals the DuckDB run (issue 17; docs/spark.md).

`make test-spark` (marker `spark`; not in `make test` yet). The DuckDB pipeline builds the sample (`journey run`, the
session's shared build); `journey run --engine spark` runs the same exports on Spark with the same privacy key
(ingestion and raw gates, shipping, dbt-spark, prediction, mart gates, publishing: orchestration/spark_run.py);
orchestration/lib/spark_compare.py compares every table of the generation it published with DuckDB's, row for row.
Then the generations: a second run publishes generation 2, rollback shows 1 again, and a generation whose mart gate
fails is not published.

EQUAL_ON_SPARK lists the tables that are equal today; each is a test. A table that becomes equal moves into it
(test_the_list_of_equal_tables_is_complete fails until it does, so the list never lags behind what Spark builds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import NIGHTLY_JOB, build_definitions
from orchestration.defs.resources import scoped_environment
from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, customer_id_key
from orchestration.lib.privacy import KEY_ENV, key_path
from orchestration.lib.spark_compare import compare_warehouses
from orchestration.lib.spark_steps import GENERATIONS_FILE
from orchestration.spark_run import SCHEMA_SUFFIX_ENV, SPARK_WAREHOUSE_ENV
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
    """One step of orchestration/lib/spark_steps.py (a process of its own: the Derby metastore admits one JVM)."""
    result = subprocess.run([sys.executable, "-m", "orchestration.lib.spark_steps", *args], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _generations(warehouse: Path) -> dict:
    return json.loads((warehouse / GENERATIONS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spark_env(sample_build) -> dict[str, str]:
    """No JOURNEY_* setting of the caller; the DuckDB sample warehouse's privacy key, so both engines make the same
    customer ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    env[KEY_ENV] = key_path(sample_build.warehouse).read_text(encoding="utf-8").strip()
    return env


@pytest.fixture(scope="module")
def spark_build(spark_env, tmp_path_factory):
    """`journey run --engine spark` on the bundled sample into a new Spark warehouse: its first generation."""
    warehouse = tmp_path_factory.mktemp("spark") / "warehouse"
    run = _journey("run", "--engine", "spark", "--warehouse", str(warehouse), "--landing", str(SAMPLE_LANDING),
                   env=spark_env)
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
def comparison(sample_build, spark_build):
    _, spark_warehouse = spark_build
    return {result.name: result for result in compare_warehouses(sample_build.warehouse, spark_warehouse,
                                                                  generation=1)}


def _summary_parts(text: str) -> tuple[list[str], str, str, str]:
    """The books' lines (source, new files, read, loaded, quarantined), the quarantine reasons, the counts line and
    the checks line of a run's summary."""
    lines = text.splitlines()
    books = [line for line in lines if line.split()[:1] and line.split()[0] in SOURCES and not line.startswith(" ")]
    reasons = text.split("quarantined rows by rule:")[1].split("customers:")[0] if "by rule:" in text else ""
    counts = next(line for line in lines if line.startswith("customers:"))
    checks = next(line for line in lines if line.startswith("checks:"))
    return books, reasons, counts, checks


def test_the_spark_run_prints_the_duckdb_runs_summary(sample_build, spark_build):
    """The same books per source (files, rows read, loaded, quarantined), quarantine reasons, customers and
    touchpoints as the DuckDB run of the same exports; every check passed and the run published."""
    printed, warehouse = spark_build
    assert "OK" in printed.splitlines()[0] and f"warehouse: {warehouse} (published)" in printed, printed
    books, reasons, counts, checks = _summary_parts(printed)
    duck_books, duck_reasons, duck_counts, duck_checks = _summary_parts(sample_build.stdout)
    assert books == duck_books and len(books) == len(SOURCES)
    assert reasons == duck_reasons and counts == duck_counts
    # the raw gates (quality, reject rate, volume of each source) and the ten mart gates; the DuckDB run has more
    # checks (Dagster's asset checks of dbt's tests too)
    passed = int(checks.split()[1])
    assert checks == f"checks: {passed} passed, 0 failed" and passed == 3 * len(SOURCES) + 10, checks
    assert int(duck_checks.split()[1]) >= passed


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


@pytest.mark.parametrize("table", EQUAL_ON_SPARK)
def test_the_table_built_on_spark_equals_duckdbs(comparison, table):
    """Same rows (spark_compare's allowances only: no run-time stamps, each build's start time as one mark, doubles
    within 2e-6; money and every other value exactly)."""
    assert comparison[table].equal, comparison[table].describe()


def test_the_list_of_equal_tables_is_complete(comparison):
    """Every table Spark builds equal to DuckDB's is listed (and so pinned) in EQUAL_ON_SPARK."""
    equal = sorted(name for name, result in comparison.items() if result.equal)
    assert sorted(EQUAL_ON_SPARK) == equal, "\n".join(r.describe() for r in comparison.values())


def test_a_difference_is_found(sample_build, spark_build, tmp_path):
    """The comparison sees one changed value (so an 'equal' above is not a comparison that cannot fail)."""
    _, spark_warehouse = spark_build
    changed = tmp_path / "journey.duckdb"
    shutil.copyfile(sample_build.warehouse, changed)
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


def test_generations_rollback_and_a_failed_gate(spark_build, spark_env):
    """A second run, the Dagster job of the Spark engine for the last export date (`JOURNEY_ENGINE=spark dagster
    dev`), finds nothing new: it loads and ships nothing and publishes generation 2 (1 kept as the previous);
    rollback shows 1 again; a generation whose mart gate fails (a timestamp floor after the sample's first
    touchpoints) is not published, and the readers' views stay where they were; with the gate passing it is."""
    _, warehouse = spark_build
    raw_rows = _raw_rows(warehouse)
    last_date = sorted(p.name for p in (SAMPLE_LANDING / "orders").iterdir())[-1]
    defs = build_definitions(warehouse=warehouse, landing=SAMPLE_LANDING, engine="spark")
    with scoped_environment(**{KEY_ENV: spark_env[KEY_ENV]}):
        result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), partition_key=last_date, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "spark/books", "spark/raw", "spark/models", "spark/published"}
    con = duckdb.connect(str(warehouse / "books.duckdb"), read_only=True)
    try:
        loads = con.execute("select count(*), sum(rows_read), sum(files_loaded) from ops.loads where run_id = ?",
                            [result.run_id]).fetchone()
    finally:
        con.close()
    assert loads == (len(SOURCES), 0, 0), loads
    assert _raw_rows(warehouse) == raw_rows  # the files already loaded are not shipped again
    assert _generations(warehouse) == {"published": 2, "previous": 1}
    assert set(_step("views", str(warehouse), env=spark_env).values()) == {"marts__g2"}

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


def _raw_rows(warehouse: Path) -> dict[str, int]:
    """Rows of each raw table on Spark, read from its Parquet files (no Spark session needed)."""
    con = duckdb.connect()
    try:
        return {source: con.execute(f"select count(*) from read_parquet('{warehouse}/tables/raw.db/{source}/*/*.parquet')"
                                    ).fetchone()[0] for source in SOURCES}
    finally:
        con.close()
