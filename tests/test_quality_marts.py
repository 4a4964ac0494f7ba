"""Mart gates: the integrity suites (expectations.mart_integrity) on hand-made DuckDB marts, and the blocking
Dagster checks `<mart>_quality` that run them before publishing.

Every rule has a clean case (the fixture's marts pass) and a broken one that must fail with that rule's name,
and only that rule (so a rule that fires on clean data, or stops firing, is caught).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, build_asset_check_context

from expectations.mart_integrity import (
    ATTRIBUTION_MODELS,
    JOURNEYS_TABLE,
    SPECS,
    mart_spec,
    profile,
    table_columns,
    validate_mart,
)
from expectations.validation import QualityResult
from orchestration.defs.quality.checks import MART_CHECKS, mart_checks
from rules.thresholds import MARTS, MartThresholds
from tests.helpers import resource_for

NOW = datetime(2026, 11, 1)

# Two conversions, each with a credit per channel under each model that sums to 1 (o2 has a single channel).
CREDITS = {
    "first_touch": (1.0, 0.0), "last_touch": (0.0, 1.0), "linear": (0.5, 0.5),
    "time_decay": (0.3, 0.7), "position_based": (0.5, 0.5), "markov": (0.6, 0.4),
}
assert set(CREDITS) == set(ATTRIBUTION_MODELS)

SCHEMA = """
create schema marts;
create table marts.dim_customers (customer_id varchar, email varchar, identifier_count bigint);
insert into marts.dim_customers values ('c1', 'a@x.com', 2), ('c2', null, 1), ('c3', null, 1);

create table marts.customer_identifiers (customer_id varchar, identifier_type varchar, identifier_value varchar);
insert into marts.customer_identifiers values
    ('c1', 'email', 'a@x.com'), ('c1', 'phone', '+15550001'), ('c2', 'phone', '+15550002'),
    ('c3', 'anonymous_id', 'a-3'),
    -- the same value under another type is another key
    ('c3', 'user_id', '+15550001');

create table marts.fct_touchpoints (
    touchpoint_id varchar, source_name varchar, customer_id varchar, occurred_at timestamp, channel varchar);
insert into marts.fct_touchpoints values
    ('orders:o1', 'orders', 'c1', '2026-10-01 10:00', 'direct'),
    ('web_events:w1', 'web_events', 'c1', '2026-10-01 09:00', 'paid_search'),
    ('pos_transactions:p2', 'pos_transactions', null, '2026-10-02 12:00', 'store');

create table marts.fct_sessions (
    session_id varchar, visitor_key varchar, customer_id varchar, started_at timestamp, ended_at timestamp);
insert into marts.fct_sessions values
    ('session:w1', 'c1', 'c1', '2026-10-01 09:00', '2026-10-01 09:20'),
    ('session:w9', 'anonymous_id:x', null, '2026-10-01 11:00', '2026-10-01 11:00');

create table marts.fct_conversion_paths (path_id varchar, conversion_id varchar, is_converted boolean);
insert into marts.fct_conversion_paths values
    ('orders:o1', 'orders:o1', true), ('pos_transactions:p2', 'pos_transactions:p2', true),
    ('no_conversion:anonymous_id:x', null, false);

create table marts.fct_attribution (
    conversion_id varchar, model varchar, channel varchar, conversion_value decimal(18, 2),
    credit double, revenue_credit double);

create table marts.customer_360 (customer_id varchar, orders_count integer, p_alive double, value_tier varchar);
insert into marts.customer_360 values ('c1', 1, 0.8, 'high'), ('c2', 0, 1.0, 'high'), ('c3', 0, null, null);

create table marts.fct_customer_journeys (
    customer_id varchar, first_touch_at timestamp, last_touch_at timestamp, awareness_at timestamp,
    consideration_at timestamp, first_purchase_at timestamp, repeat_purchase_at timestamp,
    retention_at timestamp, advocacy_at timestamp);
insert into marts.fct_customer_journeys values
    -- c1 considered before any awareness touchpoint and bought before considering: journeys are not linear
    ('c1', '2026-09-01', '2026-10-20', '2026-09-10', '2026-09-05', '2026-09-02', '2026-10-01', '2026-09-03',
     '2026-10-20'),
    -- two purchases at the same second are in order
    ('c2', '2026-09-01', '2026-09-01', null, null, '2026-09-01', '2026-09-01', '2026-09-01', null),
    ('c3', '2026-09-01', '2026-09-02', '2026-09-01', null, null, null, null, null);

-- c2 bought once: the models' values for a one-time buyer (p_alive 1 under BG/NBD), not nulls
create table marts.customer_predictions (
    customer_id varchar, frequency integer, p_alive double, expected_purchases_30d double,
    expected_purchases_90d double, expected_purchases_365d double, expected_avg_order_value double,
    expected_revenue_365d double);
insert into marts.customer_predictions values
    ('c1', 2, 0.8, 0.2, 0.5, 1.5, 60.0, 90.0), ('c2', 0, 1.0, 0.3, 0.7, 2.0, 45.0, 90.0);

create table marts.prediction_model_parameters (
    model varchar, parameter varchar, value double, customers_fitted integer, fitted_at timestamp);
insert into marts.prediction_model_parameters values
    ('bg_nbd', 'r', 0.8, 2, '2026-11-01'), ('bg_nbd', 'alpha', 30.0, 2, '2026-11-01'),
    ('bg_nbd', 'a', 0.9, 2, '2026-11-01'), ('bg_nbd', 'b', 3.0, 2, '2026-11-01'),
    ('gamma_gamma', 'p', 6.0, 1, '2026-11-01'), ('gamma_gamma', 'q', 3.0, 1, '2026-11-01'),
    ('gamma_gamma', 'v', 15.0, 1, '2026-11-01');

create schema ops;
create table ops.prediction_fits (
    model varchar, purpose varchar, status varchar, customers_fitted integer, max_gradient_per_customer double,
    detail varchar, fitted_at timestamp);
insert into ops.prediction_fits values
    ('bg_nbd', 'scoring', 'converged', 2, 1e-6, '', '2026-11-01'),
    ('gamma_gamma', 'scoring', 'converged', 1, 1e-7, '', '2026-11-01'),
    -- a backtest with too little history is skipped, which is no failure
    ('bg_nbd', 'backtest', 'skipped', 0, null, 'too little history', '2026-11-01');
"""


def attribution_rows() -> list[tuple]:
    rows = []
    for model, (direct, email) in CREDITS.items():
        rows += [("orders:o1", model, "direct", 100, direct, 100 * direct),
                 ("orders:o1", model, "email", 100, email, 100 * email),
                 ("pos_transactions:p2", model, "store", 0, 1.0, 0.0)]
    return rows


def make_marts(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute(SCHEMA)
        con.executemany("insert into marts.fct_attribution values (?, ?, ?, ?, ?, ?)", attribution_rows())
    finally:
        con.close()
    return path


@pytest.fixture
def marts(tmp_path: Path) -> Path:
    """A run's build file (the file the checks read) holding the clean marts."""
    return make_marts(tmp_path / "journey.duckdb.build")


def execute(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


def check(path: Path, table: str, thresholds: MartThresholds = MARTS) -> QualityResult:
    return validate_mart(lambda: duckdb.connect(str(path), read_only=True), table, thresholds, now=NOW)


# --- the suites -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(SPECS))
def test_clean_marts_pass_every_rule(marts: Path, table: str) -> None:
    result = check(marts, table)
    assert result.success, result.markdown()
    spec = mart_spec(table)
    # Every rule was evaluated (none skipped for a missing column), plus one column_present per column read.
    assert result.evaluated == len(spec.rules) + len(spec.columns)
    con = duckdb.connect(str(marts), read_only=True)
    try:
        assert result.rows == con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


BROKEN = [
    # dim_customers
    ("marts.dim_customers", "insert into marts.dim_customers values ('c2', 'b@x.com', 1)",
     {("key_unique", "customer_id")}),
    ("marts.dim_customers", "insert into marts.dim_customers values (null, 'z@x.com', 1)",
     {("key_not_null", "customer_id")}),
    # fct_touchpoints
    ("marts.fct_touchpoints", "insert into marts.fct_touchpoints values "
     "('orders:o1', 'orders', 'c1', '2026-10-01 10:00', 'direct')", {("key_unique", "touchpoint_id")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set touchpoint_id = null where source_name = 'orders'",
     {("key_not_null", "touchpoint_id")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set occurred_at = null where source_name = 'orders'",
     {("timestamp_present", "occurred_at")}),
    # NOW + the 2-day tolerance is the latest plausible time; a year later is not
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set occurred_at = occurred_at + interval 1 year "
     "where source_name = 'orders'", {("timestamp_not_future", "occurred_at")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set occurred_at = '1960-01-01' "
     "where source_name = 'orders'", {("timestamp_not_before_floor", "occurred_at")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set source_name = null where source_name = 'orders'",
     {("source_present", "source_name")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set source_name = 'fax' where source_name = 'orders'",
     {("source_known", "source_name")}),
    # one of three touchpoints without a channel is 33%, far above the 1% tolerated
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set channel = null where source_name = 'orders'",
     {("channel_populated", "channel")}),
    ("marts.fct_touchpoints", "update marts.fct_touchpoints set customer_id = 'c404' where source_name = 'orders'",
     {("customer_known", "customer_id")}),
    # customer_identifiers
    ("marts.customer_identifiers", "insert into marts.customer_identifiers values ('c2', 'email', 'a@x.com')",
     {("key_unique", "identifier_type, identifier_value")}),
    ("marts.customer_identifiers", "update marts.customer_identifiers set identifier_value = null "
     "where identifier_value = '+15550001' and identifier_type = 'phone'",
     {("key_not_null", "identifier_type, identifier_value")}),
    ("marts.customer_identifiers", "update marts.customer_identifiers set customer_id = 'c404' "
     "where identifier_value = '+15550001' and identifier_type = 'phone'", {("customer_known", "customer_id")}),
    # c3 keeps its dim_customers row but loses both identifiers: a golden record nobody can be matched to
    ("marts.customer_identifiers", "delete from marts.customer_identifiers where customer_id = 'c3'",
     {("golden_record_identified", "customer_id")}),
    # fct_sessions
    ("marts.fct_sessions", "insert into marts.fct_sessions values "
     "('session:w1', 'c1', 'c1', '2026-10-02 09:00', '2026-10-02 09:00')", {("key_unique", "session_id")}),
    ("marts.fct_sessions", "update marts.fct_sessions set session_id = null where session_id = 'session:w9'",
     {("key_not_null", "session_id")}),
    ("marts.fct_sessions", "update marts.fct_sessions set ended_at = '2026-10-01 08:59' "
     "where session_id = 'session:w1'", {("session_timestamps_in_order", "ended_at")}),
    ("marts.fct_sessions", "update marts.fct_sessions set customer_id = 'c404' where session_id = 'session:w9'",
     {("customer_known", "customer_id")}),
    # fct_conversion_paths
    ("marts.fct_conversion_paths", "insert into marts.fct_conversion_paths values ('orders:o1', null, false)",
     {("key_unique", "path_id")}),
    ("marts.fct_conversion_paths", "update marts.fct_conversion_paths set path_id = null where not is_converted",
     {("key_not_null", "path_id")}),
    # fct_attribution: a row delivered twice repeats a key and doubles its pair's credit and revenue
    ("marts.fct_attribution", "insert into marts.fct_attribution "
     "select * from marts.fct_attribution where model = 'linear' and channel = 'email'",
     {("key_unique", "conversion_id, model, channel"), ("credits_sum_to_one", "credit"),
      ("revenue_credits_sum_to_value", "revenue_credit")}),
    ("marts.fct_attribution", "update marts.fct_attribution set channel = null "
     "where model = 'markov' and channel = 'store'", {("key_not_null", "conversion_id, model, channel")}),
    ("marts.fct_attribution", "update marts.fct_attribution set model = 'u_shaped' where model = 'linear'",
     {("model_known", "model")}),
    # still summing to 1, but one credit above 1 and one below 0
    ("marts.fct_attribution", "update marts.fct_attribution set credit = case channel when 'direct' then 1.5 "
     "else -0.5 end where model = 'linear' and conversion_id = 'orders:o1'", {("credit_in_range", "credit")}),
    # a null credit is not between 0 and 1 (and its pair no longer sums to 1)
    ("marts.fct_attribution", "update marts.fct_attribution set credit = null "
     "where model = 'linear' and conversion_id = 'pos_transactions:p2'",
     {("credit_in_range", "credit"), ("credits_sum_to_one", "credit")}),
    # revenue credits untouched: only the credits are off
    ("marts.fct_attribution", "update marts.fct_attribution set credit = 0.45 "
     "where model = 'linear' and conversion_id = 'orders:o1'", {("credits_sum_to_one", "credit")}),
    ("marts.fct_attribution", "update marts.fct_attribution set revenue_credit = revenue_credit + 0.02 "
     "where model = 'markov' and channel = 'email'", {("revenue_credits_sum_to_value", "revenue_credit")}),
    # customer_360
    ("marts.customer_360", "insert into marts.customer_360 values ('c1', 1, 0.8, 'high')",
     {("key_unique", "customer_id")}),
    # the view no longer showing the night's predictions: another p_alive, or a buyer without a tier
    ("marts.customer_360", "update marts.customer_360 set p_alive = 0.5 where customer_id = 'c1'",
     {("prediction_shown", "p_alive")}),
    ("marts.customer_360", "update marts.customer_360 set p_alive = null, value_tier = null where customer_id = 'c2'",
     {("prediction_shown", "p_alive")}),
    ("marts.customer_360", "update marts.customer_360 set customer_id = null where customer_id = 'c3'",
     {("key_not_null", "customer_id")}),
    ("marts.customer_360", "update marts.customer_360 set customer_id = 'c404' where customer_id = 'c3'",
     {("customer_known", "customer_id")}),
    # fct_customer_journeys
    ("marts.fct_customer_journeys", "insert into marts.fct_customer_journeys (customer_id, first_touch_at, "
     "last_touch_at) values ('c3', '2026-09-01', '2026-09-01')", {("key_unique", "customer_id")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set customer_id = null "
     "where customer_id = 'c3'", {("key_not_null", "customer_id")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set customer_id = 'c404' "
     "where customer_id = 'c3'", {("customer_known", "customer_id")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set repeat_purchase_at = '2026-09-01' "
     "where customer_id = 'c1'", {("stage_timestamps_in_order", "repeat_purchase_at")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set first_purchase_at = null "
     "where customer_id = 'c2'", {("stage_timestamps_in_order", "repeat_purchase_at")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set first_touch_at = '2026-09-03' "
     "where customer_id = 'c3'", {("stage_timestamps_in_order", "last_touch_at"),
                                  ("stage_within_journey", "awareness_at")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set advocacy_at = '2026-10-21' "
     "where customer_id = 'c1'", {("stage_within_journey", "advocacy_at")}),
    ("marts.fct_customer_journeys", "update marts.fct_customer_journeys set consideration_at = '2026-08-31' "
     "where customer_id = 'c1'", {("stage_within_journey", "consideration_at")}),
    # customer_predictions
    ("marts.customer_predictions", "insert into marts.customer_predictions values "
     "('c1', 2, 0.8, 0.2, 0.5, 1.5, 60.0, 90.0)", {("key_unique", "customer_id")}),
    ("marts.customer_predictions", "update marts.customer_predictions set customer_id = null "
     "where customer_id = 'c2'", {("key_not_null", "customer_id")}),
    ("marts.customer_predictions", "update marts.customer_predictions set customer_id = 'c404' "
     "where customer_id = 'c2'", {("customer_known", "customer_id")}),
    # a one-time buyer left without values
    ("marts.customer_predictions", "update marts.customer_predictions set p_alive = null, "
     "expected_purchases_30d = null, expected_purchases_90d = null, expected_purchases_365d = null, "
     "expected_avg_order_value = null, expected_revenue_365d = null where customer_id = 'c2'",
     {("prediction_present", c) for c in ("p_alive", "expected_purchases_30d", "expected_purchases_90d",
                                         "expected_purchases_365d", "expected_avg_order_value",
                                         "expected_revenue_365d")}),
    ("marts.customer_predictions", "update marts.customer_predictions set p_alive = 1.2 where customer_id = 'c1'",
     {("probability_in_range", "p_alive")}),
    # NaN is not finite, and DuckDB orders it above every number
    ("marts.customer_predictions", "update marts.customer_predictions set p_alive = 'nan' where customer_id = 'c1'",
     {("prediction_present", "p_alive"), ("probability_in_range", "p_alive")}),
    ("marts.customer_predictions", "update marts.customer_predictions set expected_purchases_30d = -0.1, "
     "expected_purchases_90d = -0.1, expected_purchases_365d = -0.1, expected_avg_order_value = -1, "
     "expected_revenue_365d = -1 where customer_id = 'c1'",
     {("expectation_not_negative", c) for c in ("expected_purchases_30d", "expected_purchases_90d",
                                               "expected_purchases_365d", "expected_avg_order_value",
                                               "expected_revenue_365d")}),
    # prediction_model_parameters
    ("marts.prediction_model_parameters", "insert into marts.prediction_model_parameters values "
     "('bg_nbd', 'r', 0.8, 2, '2026-11-01')", {("key_unique", "model, parameter")}),
    ("marts.prediction_model_parameters", "update marts.prediction_model_parameters set parameter = null "
     "where parameter = 'q'", {("key_not_null", "model, parameter")}),
    ("marts.prediction_model_parameters", "update marts.prediction_model_parameters set value = case parameter "
     "when 'a' then 0 when 'b' then 'inf'::double else -1 end where parameter in ('a', 'b', 'v')",
     {("parameter_finite_positive", "value")}),
    ("marts.prediction_model_parameters", "update ops.prediction_fits set status = 'not_converged' "
     "where model = 'gamma_gamma'", {("fit_converged", "status")}),
]


@pytest.mark.parametrize(("table", "sql", "expected"), BROKEN,
                         ids=[f"{t.split('.')[1]}-{sorted(e)[0][0]}-{i}" for i, (t, _, e) in enumerate(BROKEN)])
def test_each_rule_fails_on_broken_rows_and_only_that_rule(
        marts: Path, table: str, sql: str, expected: set[tuple[str, str]]) -> None:
    execute(marts, sql)
    result = check(marts, table)
    assert not result.success
    assert {(f.rule, f.column) for f in result.failures} == expected, result.markdown()
    for failure in result.failures:
        assert failure.unexpected_count and failure.unexpected_count > 0
        assert failure.observed.startswith(f"{failure.unexpected_count:,} of ")
        assert failure.sample_rows, f"{failure.rule} has no sample rows"


def test_every_rule_of_every_suite_is_exercised_by_a_broken_case() -> None:
    covered = {(table, rule, column) for table, _, expected in BROKEN for rule, column in expected}
    defined = {(table, r.rule, r.column) for table in SPECS for r in mart_spec(table).rules}
    # Stages other than consideration and advocacy share the same rule and SQL (a loop over the columns).
    untested = {(t, r, c) for t, r, c in defined - covered if r != "stage_within_journey"}
    assert not untested


def test_failures_say_how_many_of_how_many_and_show_the_offending_rows(marts: Path) -> None:
    execute(marts, "insert into marts.fct_attribution select * from marts.fct_attribution "
                   "where model = 'linear' and channel = 'email'")
    result = check(marts, "marts.fct_attribution")
    unique = result.failure("key_unique")
    assert unique is not None
    assert unique.observed == "1 of 18 keys are on more than one row; most rows of one key: 2; allowed 0"
    assert unique.sample_rows == [{"conversion_id": "orders:o1", "model": "linear", "channel": "email", "rows": 2}]
    assert unique.samples == ["orders:o1 | linear | email"]
    sums = result.failure("credits_sum_to_one")
    assert sums is not None and sums.observed.startswith("1 of 12 (conversion, model) pairs have credits that do not")
    assert "worst off by 0.5" in sums.observed and "tolerance 1e-06" in sums.observed
    assert sums.sample_rows == [{"conversion_id": "orders:o1", "model": "linear", "channels": 3, "credit_sum": 1.5}]
    revenue = result.failure("revenue_credits_sum_to_value")
    assert revenue is not None and revenue.sample_rows[0]["conversion_value"] == 100.0
    assert revenue.sample_rows[0]["revenue_credit_sum"] == 150.0


def test_golden_record_failure_names_the_customer(marts: Path) -> None:
    execute(marts, "delete from marts.customer_identifiers where customer_id = 'c3'")
    failure = check(marts, "marts.customer_identifiers").failure("golden_record_identified")
    assert failure is not None and failure.samples == ["c3"]
    assert failure.observed.startswith("1 of 3 customers of marts.dim_customers have no identifier in "
                                       "marts.customer_identifiers")


def test_attribution_sums_within_the_tolerance_pass(marts: Path) -> None:
    # float noise far below the credit tolerance, and half a cent of revenue
    execute(marts, "update marts.fct_attribution set credit = credit + 1e-9, revenue_credit = revenue_credit + 0.004 "
                   "where model = 'time_decay' and channel = 'email'")
    assert check(marts, "marts.fct_attribution").success


def test_attribution_tolerances_come_from_mart_thresholds(marts: Path) -> None:
    execute(marts, "update marts.fct_attribution set credit = 0.45, revenue_credit = 45 "
                   "where model = 'linear' and conversion_id = 'orders:o1'")
    assert set(check(marts, "marts.fct_attribution").failed_rules) == {
        "credits_sum_to_one", "revenue_credits_sum_to_value"}
    loose = MartThresholds(attribution_credit_tolerance=0.2, attribution_revenue_tolerance=20)
    assert check(marts, "marts.fct_attribution", loose).success
    assert MARTS.attribution_credit_tolerance == 1e-6 and MARTS.attribution_revenue_tolerance == 0.01


def test_journeys_may_skip_or_reorder_stages_the_model_does_not_order(marts: Path) -> None:
    # Awareness after purchase, retention before the first purchase: both happen (a support ticket before any
    # order, an e-mail after it), and the model does not order them.
    execute(marts, "update marts.fct_customer_journeys set awareness_at = '2026-10-15', "
                   "retention_at = '2026-09-01' where customer_id = 'c1'")
    assert check(marts, JOURNEYS_TABLE).success


def test_a_missing_column_is_named_and_the_other_rules_still_run(marts: Path) -> None:
    execute(marts, "alter table marts.fct_attribution drop column credit;"
                   "insert into marts.fct_attribution (conversion_id, model, channel) values ('x', 'u_shaped', 'y')")
    result = check(marts, "marts.fct_attribution")
    assert {(f.rule, f.column) for f in result.failures} == {
        ("column_present", "credit"), ("model_known", "model")}
    assert result.failure("column_present").observed == "column missing"


def test_a_missing_mart_fails_with_table_present(marts: Path) -> None:
    execute(marts, "drop table marts.fct_sessions")
    result = check(marts, "marts.fct_sessions")
    assert not result.success and result.failed_rules == ["table_present"]
    assert "marts.fct_sessions does not exist" in result.failures[0].observed


def test_integrity_rules_read_one_profile_row_whatever_the_mart_size(marts: Path) -> None:
    execute(marts, "insert into marts.fct_attribution select 'orders:n' || i, m.model, 'direct', 10, 1.0, 10.0 "
                   f"from range(20000) t(i), (select unnest({list(ATTRIBUTION_MODELS)}) as model) m")
    con = duckdb.connect(str(marts), read_only=True)
    try:
        spec = mart_spec("marts.fct_attribution")
        frame = profile(con, spec, table_columns(con, spec.table))
    finally:
        con.close()
    assert len(frame) == 1
    assert int(frame.loc[0, "_rows"]) == 120_018 and int(frame.loc[0, "_total__credits"]) == 120_012
    assert check(marts, "marts.fct_attribution").rows == 120_018


# --- Dagster checks -------------------------------------------------------------------------------------------


def test_every_mart_with_a_key_has_a_blocking_check() -> None:
    specs = {spec.asset_key.path[-1]: spec for definition in mart_checks() for spec in definition.check_specs}
    assert set(specs) == {
        "dim_customers", "customer_identifiers", "fct_touchpoints", "fct_sessions", "fct_conversion_paths",
        "fct_attribution", "customer_360", "fct_customer_journeys", "customer_predictions",
        "prediction_model_parameters"}
    for name, spec in specs.items():
        assert spec.asset_key == AssetKey(["marts", name]) and spec.name == f"{name}_quality" and spec.blocking
    waits = {name: {d.asset_key for d in spec.additional_deps} for name, spec in specs.items()}
    customers = {AssetKey(["marts", "dim_customers"])}
    for name in ("fct_touchpoints", "customer_identifiers", "fct_sessions", "fct_customer_journeys",
                 "customer_predictions"):
        assert waits[name] == customers, name
    # customer_360 is a view of the predictions: its check waits for the prediction step too
    assert waits["customer_360"] == customers | {AssetKey(["marts", "customer_predictions"])}
    assert {t for t, _, _ in MART_CHECKS} == set(SPECS)
    # The checks wait for every mart their integrity suite reads (checks.py lists them without importing GX).
    for table in SPECS:
        name = table.split(".")[1]
        assert waits[name] == {AssetKey(t.split(".")) for t in mart_spec(table).reads}, name


def test_mart_checks_can_be_selected_and_reject_unknown_marts() -> None:
    (only,) = mart_checks(marts=["fct_attribution"])
    assert [s.name for s in only.check_specs] == ["fct_attribution_quality"]
    with pytest.raises(KeyError, match="fct_nope"):
        mart_checks(marts=["fct_nope"])


def run_checks(build: Path) -> dict[str, dg.AssetCheckResult]:
    results = {}
    for definition in mart_checks():
        spec = next(iter(definition.check_specs))
        results[spec.name] = definition(build_asset_check_context(resources={"warehouse": resource_for(build)}))
    return results


def test_all_mart_checks_pass_on_clean_marts_and_write_reports(marts: Path) -> None:
    results = run_checks(marts)
    assert {name: r.passed for name, r in results.items()} == {f"{name}_quality": True for _, name, _ in MART_CHECKS}
    attribution = results["fct_attribution_quality"]
    assert attribution.severity == AssetCheckSeverity.ERROR
    assert attribution.metadata["rows_validated"].value == 18
    assert attribution.metadata["failed_expectations"].value == []
    page = Path(attribution.metadata["quality_report"].value)
    assert page.name == "marts.fct_attribution.html" and page.exists()
    index = Path(attribution.metadata["quality_reports_index"].value).read_text()
    assert "marts.fct_customer_journeys" in index and "marts.customer_identifiers" in index


def test_a_broken_mart_fails_its_own_check_with_the_rule_and_samples(marts: Path) -> None:
    execute(marts, "update marts.fct_attribution set credit = 0.45 "
                   "where model = 'linear' and conversion_id = 'orders:o1'")
    results = run_checks(marts)
    assert [name for name, r in results.items() if not r.passed] == ["fct_attribution_quality"]
    failed = results["fct_attribution_quality"]
    assert "credits_sum_to_one on credit: 1 of 12 (conversion, model) pairs" in failed.description
    (expectation,) = failed.metadata["failed_expectations"].value
    assert expectation["rule"] == "credits_sum_to_one"
    assert expectation["sample_rows"] == [
        {"conversion_id": "orders:o1", "model": "linear", "channels": 2, "credit_sum": 0.9}]


@pytest.mark.parametrize("broken", [False, True])
def test_a_failed_mart_check_blocks_publishing(marts: Path, broken: bool) -> None:
    if broken:
        execute(marts, "delete from marts.customer_identifiers where customer_id = 'c2'")

    @dg.asset(key=AssetKey(["marts", "dim_customers"]))
    def dim_customers() -> None:
        return None

    @dg.asset(key=AssetKey(["marts", "customer_identifiers"]), deps=[dim_customers])
    def customer_identifiers() -> None:
        return None

    @dg.asset(key=AssetKey(["publish", "warehouse"]), deps=[dim_customers, customer_identifiers])
    def published() -> None:
        return None

    checks = mart_checks(marts=["customer_identifiers"])
    result = dg.materialize([dim_customers, customer_identifiers, published, *checks], raise_on_error=False,
                            resources={"warehouse": resource_for(marts)})
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    evaluations = [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()]
    assert evaluations == [("customer_identifiers_quality", not broken)]
    assert (AssetKey(["publish", "warehouse"]) in materialized) is not broken


def test_a_tolerated_share_passes_below_and_fails_above_its_threshold(marts: Path) -> None:
    # 200 more touchpoints with a channel: 1 of 203 without one (0.49%) is inside the 1% tolerance, 3 (1.48%) not
    execute(marts, "insert into marts.fct_touchpoints select 'web_events:x' || i, 'web_events', null, "
                   "timestamp '2026-10-03 08:00', 'direct' from range(200) as t(i)")
    execute(marts, "update marts.fct_touchpoints set channel = null where touchpoint_id = 'orders:o1'")
    assert check(marts, "marts.fct_touchpoints").success
    execute(marts, "update marts.fct_touchpoints set channel = null where touchpoint_id in ('web_events:x1', 'web_events:x2')")
    failure = check(marts, "marts.fct_touchpoints").failure("channel_populated", "channel")
    assert failure is not None and failure.unexpected_count == 3
    assert "allowed 1%" in failure.observed, failure.observed
