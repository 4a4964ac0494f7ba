"""The bundled sample built by the dbt project on Apache Spark equals the DuckDB build (issue 17; docs/spark.md).

`make test-spark` (marker `spark`; not in `make test` yet). The DuckDB pipeline builds the sample (`journey run`, the
session's shared build); its raw schema is copied to a local Spark warehouse by the stand-in for Spark ingestion
(orchestration/lib/spark_raw.py); dbt builds seeds and models there with the `spark` target and the same customer-id
key; the prediction step runs on that build (orchestration/lib/spark_predict.py, also a stand-in);
orchestration/lib/spark_compare.py compares every table row for row.

EQUAL_ON_SPARK lists the tables that are equal today; each is a test. A table that becomes equal moves into it
(test_the_list_of_equal_tables_is_complete fails until it does, so the list never lags behind what Spark builds).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.lib.spark_compare import compare_warehouses
from orchestration.lib.spark_raw import dbt_spark_env
from tests.helpers import DBT_DIR

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


@pytest.fixture(scope="module")
def spark_build(sample_build, tmp_path_factory):
    """The sample's raw tables copied to Spark, seeds and every model built there by dbt-spark, then the prediction
    step on that build."""
    spark_warehouse = tmp_path_factory.mktemp("spark") / "warehouse"
    spark_warehouse.mkdir()
    env = dbt_spark_env(spark_warehouse, sample_build.warehouse)
    # processes of their own: the local Derby metastore admits one JVM at a time
    load = subprocess.run([sys.executable, "-m", "orchestration.lib.spark_raw", str(sample_build.warehouse),
                           str(spark_warehouse)], env=env, capture_output=True, text=True, check=False)
    assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-3000:]
    # every model in one invocation: the rows staged in it carry its start time, as int_identity__changed_records expects
    for args in (["seed"], ["run"]):
        result = _dbt_on_spark(args, env, spark_warehouse)
        assert result.returncode == 0, f"dbt {' '.join(args)} on Spark failed:\n{result.stdout[-6000:]}"
    # the prediction step on the Spark build (the stand-in until `journey run --engine spark` runs it)
    predict = subprocess.run([sys.executable, "-m", "orchestration.lib.spark_predict", str(spark_warehouse)], env=env,
                             capture_output=True, text=True, check=False)
    assert predict.returncode == 0, predict.stdout[-3000:] + predict.stderr[-3000:]
    return load.stdout, spark_warehouse


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
    return {result.name: result for result in compare_warehouses(sample_build.warehouse, spark_warehouse)}


def test_the_stand_in_copies_every_raw_table(spark_build, sample_build):
    """The raw tables on Spark hold the DuckDB run's rows (counts printed by the stand-in loader)."""
    import duckdb

    printed, _ = spark_build
    con = duckdb.connect(str(sample_build.warehouse), read_only=True)
    try:
        for line in printed.strip().splitlines():
            table, rows = line.split(": ")
            assert int(rows.split()[0]) == con.execute(f"select count(*) from {table}").fetchone()[0] > 0, line
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
    import shutil

    import duckdb

    _, spark_warehouse = spark_build
    changed = tmp_path / "journey.duckdb"
    shutil.copyfile(sample_build.warehouse, changed)
    con = duckdb.connect(str(changed))
    try:
        con.execute("update staging.stg_shop__orders set total_amount = total_amount + 0.01 "
                    "where order_id = (select min(order_id) from staging.stg_shop__orders where total_amount is not null)")
    finally:
        con.close()
    result = {r.name: r for r in compare_warehouses(changed, spark_warehouse, schemas=("staging",))}
    assert not result["staging.stg_shop__orders"].equal
    orders = result["staging.stg_shop__orders"]
    assert orders.duckdb_rows == orders.spark_rows and orders.only_in_duckdb == orders.only_in_spark >= 1


def test_components_that_need_more_rounds_than_allowed_fail_the_build(sample_build, spark_build):
    """On Spark the label rounds run until no label changes, at most var identity_label_rounds of them: the sample's
    identity graph needs more than one, so with one the model fails and says so (instead of leaving labels
    unfinished). The model raises before it writes its table, so the compared tables stay as built."""
    _, spark_warehouse = spark_build
    result = _dbt_on_spark(["run", "--select", "int_identity__graph_components", "--vars", "identity_label_rounds: 1"],
                           dbt_spark_env(spark_warehouse, sample_build.warehouse), spark_warehouse)
    assert result.returncode != 0
    assert "labels still changed after 1 rounds (var identity_label_rounds)" in result.stdout, result.stdout[-3000:]
