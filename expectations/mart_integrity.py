"""Integrity suites for the marts: one row per key, known customers, golden records with an identifier, stage
timestamps in the order the journey model guarantees, and attribution credits that add up.

These rules are about a whole mart (is any key repeated? do a conversion's credits sum to one?) or two marts (is
this customer in dim_customers?). Pulling the rows into pandas would not scale (fct_attribution has a row per
conversion, model and channel), so every rule is computed where the data lives, in DuckDB, and Great Expectations
validates the aggregate:

1. Each rule counts the rows of a *source* that break it: the mart itself, its keys with their row counts
   (`group by key`), or an aggregate such as fct_attribution per conversion and model. One query per source,
   one `count(*) filter (where <violation>)` per rule, all joined into a one-row **profile** frame.
2. The suite validates the profile: `expect_column_max_to_be_between(<rule count>, max_value=0)` per rule, and
   `expect_column_to_exist(<mart column>)` per column the rules read (the profile carries a marker column, holding
   the column's type, for every mart column present). A rule whose columns are missing is not computed; its
   column_present failure names the column.
3. For each failed rule, a bounded query (`limit SAMPLE_COUNT`) reads a few offending rows, and the failure says
   "N of M <unit> <what went wrong>" with those rows (the run summary and the reports show them).

So a check reads one row plus, only when it fails, a handful of sample rows, whatever the size of the mart.
Tolerances come from MartThresholds (rules/thresholds.py); every count must be zero unless its rule
tolerates a share.

A rule may tolerate a share of violating rows (`Rule.max_share`, from a `mostly` in MartThresholds: a touchpoint
without a channel); the suite then bounds its share instead of its count.

dim_customers' suite is its key's rules alone (one row per customer id, none without one): the other marts' rules
about customers read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from expectations.raw._common import floor_datetime, utc_now
from expectations.raw._common import rule as rule_meta
from expectations.validation import SAMPLE_COUNT, FailedExpectation, QualityResult, jsonable, validate
from orchestration.lib.warehouse import quote
from rules.contract import SOURCES
from rules.journeys import ATTRIBUTION_MODELS
from rules.thresholds import MARTS, MartThresholds

CUSTOMERS_TABLE = "marts.dim_customers"
TOUCHPOINTS_TABLE = "marts.fct_touchpoints"
IDENTIFIERS_TABLE = "marts.customer_identifiers"
SESSIONS_TABLE = "marts.fct_sessions"
PATHS_TABLE = "marts.fct_conversion_paths"
ATTRIBUTION_TABLE = "marts.fct_attribution"
CUSTOMER_360_TABLE = "marts.customer_360"
JOURNEYS_TABLE = "marts.fct_customer_journeys"
PREDICTIONS_TABLE = "marts.customer_predictions"
PARAMETERS_TABLE = "marts.prediction_model_parameters"
PREDICTION_FITS_TABLE = "ops.prediction_fits"

# customer_predictions: every value a customer is given (a one-time buyer too: the models' values, never null).
PREDICTED_COLUMNS = ("p_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
                     "expected_avg_order_value", "expected_revenue_365d")
EXPECTATION_COLUMNS = PREDICTED_COLUMNS[1:]

# fct_customer_journeys: first reached times of each stage. Journeys are not linear (on the bundled sample a few
# hundred customers consider before any awareness touchpoint, and a hundred buy before considering), so the model
# guarantees only: every stage lies within the customer's first and last touchpoint (they are min/max over the
# same touchpoints), the first touchpoint is not after the last, and the second purchase is not before the first
# (conversion_number orders conversions by time). Retention before a repeat purchase holds only while var
# journey_repeat_purchase_stage is 'retention', so it is not checked.
JOURNEY_STAGE_COLUMNS = (
    "awareness_at", "consideration_at", "first_purchase_at", "repeat_purchase_at", "retention_at", "advocacy_at",
)
JOURNEY_ORDERED_PAIRS = (("first_touch_at", "last_touch_at"), ("first_purchase_at", "repeat_purchase_at"))

TABLE_PRESENT = "table_present"


@dataclass(frozen=True)
class Relation:
    """A relation the rules count rows of: SQL over the mart (`{table}`), and what one row of it is."""

    sql: str
    unit: str


@dataclass(frozen=True)
class Rule:
    """One integrity rule: the rows of `source` for which `violation` (SQL, source aliased `s`) is true break it."""

    rule: str  # machine name, as reports and tests know it
    column: str  # the column the report names
    columns: tuple[str, ...]  # mart columns the rule (and its source) reads: all must exist
    source: str  # key of MartSpec.sources
    violation: str
    what: str  # the violation in words: "<count> of <total> <unit> <what>"
    sample: tuple[str, ...]  # source columns of the sample rows
    worst: str | None = None  # optional SQL aggregate over the violating rows, reported after `worst_label`
    worst_label: str = "worst"
    meta: Mapping[str, Any] = field(default_factory=dict)  # extra expectation meta (tolerance, reference)
    # None: no violation allowed. Else the largest share of the source's rows that may break the rule (a GX
    # `mostly` of 0.99 is max_share 0.01); the suite then bounds the rule's share column instead of its count.
    max_share: float | None = None

    @property
    def count_column(self) -> str:
        """The profile column holding the rule's violation count."""
        return f"{self.rule}__{re.sub(r'[^0-9A-Za-z_]+', '_', self.column).strip('_')}"

    @property
    def share_column(self) -> str:
        """The profile column holding the rule's violation share (rules with max_share)."""
        return "_share__" + self.count_column


@dataclass(frozen=True)
class MartSpec:
    """The integrity suite of one mart."""

    table: str
    key: tuple[str, ...]
    sources: Mapping[str, Relation]
    rules: tuple[Rule, ...]
    reads: tuple[str, ...] = ()  # other marts the rules read (the check waits for them)

    @property
    def name(self) -> str:
        return self.table.split(".")[-1]

    @property
    def columns(self) -> list[str]:
        """Every mart column a rule reads, in first-use order."""
        return list(dict.fromkeys(c for r in self.rules for c in r.columns))

    def rule_for(self, rule: str, column: str | None) -> Rule | None:
        return next((r for r in self.rules if r.rule == rule and r.column == column), None)


# --- rule builders --------------------------------------------------------------------------------------------


def _q(columns: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def _label(columns: Sequence[str]) -> str:
    return ", ".join(columns)


def rows_source(unit: str = "rows") -> Relation:
    return Relation("select * from {table}", unit)


def keys_source(key: Sequence[str]) -> Relation:
    """One row per (non-null) key with its number of rows: a hash aggregate in DuckDB, never read into pandas."""
    present = " and ".join(f"{quote(c)} is not null" for c in key)
    return Relation(f"select {_q(key)}, count(*) as rows from {{table}} where {present} group by {_q(key)}", "keys")


def key_rules(key: Sequence[str]) -> list[Rule]:
    """One row per key: no key column null, no key on more than one row (sources "rows" and "keys")."""
    key = tuple(key)
    label = _label(key)
    return [
        Rule("key_not_null", label, key, "rows", " or ".join(f"s.{quote(c)} is null" for c in key),
             f"have no {label}" if len(key) == 1 else f"lack a part of the key ({label})", key),
        Rule("key_unique", label, key, "keys", "s.rows > 1", "are on more than one row", (*key, "rows"),
             worst="max(s.rows)", worst_label="most rows of one key:"),
    ]


def customer_known_rule(key: Sequence[str], column: str = "customer_id", max_share: float | None = None) -> Rule:
    """Every non-null customer id of the mart is a dim_customers.customer_id (source "rows")."""
    return Rule(
        "customer_known", column, (*key, column) if column not in key else tuple(key), "rows",
        f"s.{quote(column)} is not null and not exists (select 1 from {CUSTOMERS_TABLE} as c "
        f"where c.customer_id = s.{quote(column)})",
        f"have a {column} that is not in {CUSTOMERS_TABLE}", tuple(dict.fromkeys((*key, column))),
        meta={"reference": f"{CUSTOMERS_TABLE}.customer_id"}, max_share=max_share,
    )


def _spec(table: str, key: Sequence[str], rules: Sequence[Rule], extra_sources: Mapping[str, Relation] | None = None,
          reads: Sequence[str] = (), unit: str = "rows") -> MartSpec:
    """`unit`: what one row of the mart is, for the reports ("2 of 2,728 customers have ...")."""
    sources = {"rows": rows_source(unit), "keys": keys_source(key), **(extra_sources or {})}
    spec = MartSpec(table, tuple(key), sources, (*key_rules(key), *rules), tuple(reads))
    seen = [(r.rule, r.column) for r in spec.rules]
    assert len(seen) == len(set(seen)), f"{table}: a rule is defined twice for one column"
    assert all(r.source in sources for r in spec.rules), f"{table}: a rule counts rows of an unknown source"
    return spec


# --- the marts ------------------------------------------------------------------------------------------------


def _tolerated(mostly: float) -> float | None:
    """A GX-style `mostly` as the share of rows that may break a rule (None when none may)."""
    return None if mostly >= 1 else round(1.0 - mostly, 12)


def dim_customers_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per customer id, none without one. The column names are the ones the mart must expose (BI, the run
    summary and the other marts' customer_known rules read customer_id): a mart that names it differently fails
    `column_present`."""
    return _spec(CUSTOMERS_TABLE, ("customer_id",), [], unit="customers")


def fct_touchpoints_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per touchpoint, on a plausible timeline, from a known source, owned by a known customer or none.

    The rules a row-by-row GX suite would check (it was one until the 10-million-row benchmark), aggregated in
    DuckDB: the mart is read once by a hash aggregate instead of being pulled into pandas."""
    now = now or utc_now()
    key = ("touchpoint_id",)
    latest = now + thresholds.future_tolerance
    floor = floor_datetime(thresholds.timestamp_floor)
    sources = ", ".join(f"'{s}'" for s in sorted(SOURCES))
    rules = [
        Rule("timestamp_present", "occurred_at", (*key, "occurred_at"), "rows", "s.occurred_at is null",
             "have no occurred_at", (*key, "occurred_at")),
        Rule("timestamp_not_future", "occurred_at", (*key, "occurred_at"), "rows",
             f"s.occurred_at > timestamp '{latest.isoformat(sep=' ', timespec='seconds')}'",
             f"have occurred_at after {latest.isoformat(sep=' ', timespec='seconds')} (now + tolerance)",
             (*key, "occurred_at"), worst="max(s.occurred_at)", worst_label="latest:",
             meta={"max_value": latest.isoformat(timespec="seconds")}),
        Rule("timestamp_not_before_floor", "occurred_at", (*key, "occurred_at"), "rows",
             f"s.occurred_at < timestamp '{floor.isoformat(sep=' ', timespec='seconds')}'",
             f"have occurred_at before {floor.date().isoformat()}", (*key, "occurred_at"),
             worst="min(s.occurred_at)", worst_label="earliest:", meta={"min_value": floor.isoformat()}),
        Rule("source_present", "source_name", (*key, "source_name"), "rows", "s.source_name is null",
             "have no source_name", (*key, "source_name")),
        Rule("source_known", "source_name", (*key, "source_name"), "rows",
             f"s.source_name is not null and s.source_name not in ({sources})",
             "have a source_name that is no export of the contract", (*key, "source_name"),
             meta={"value_set": sorted(SOURCES)}),
        Rule("channel_populated", "channel", (*key, "channel"), "rows", "s.channel is null", "have no channel",
             (*key, "channel"),
             max_share=_tolerated(thresholds.touchpoint_channel_populated_mostly)),
        customer_known_rule(key, max_share=_tolerated(thresholds.touchpoint_customer_known_mostly)),
    ]
    if thresholds.touchpoint_customer_present_mostly > 0:
        rules.append(Rule("customer_present", "customer_id", (*key, "customer_id"), "rows",
                          "s.customer_id is null", "have no customer_id", (*key, "customer_id"),
                          max_share=_tolerated(thresholds.touchpoint_customer_present_mostly)))
    return _spec(TOUCHPOINTS_TABLE, key, rules, reads=(CUSTOMERS_TABLE,), unit="touchpoints")


def customer_identifiers_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per (identifier_type, identifier_value), owned by a known customer; no golden record without one."""
    key = ("identifier_type", "identifier_value")
    customers = Relation(f"select customer_id from {CUSTOMERS_TABLE}", f"customers of {CUSTOMERS_TABLE}")
    golden = Rule(
        "golden_record_identified", "customer_id", ("customer_id",), "customers",
        "not exists (select 1 from {table} as i where i.customer_id = s.customer_id)",
        "have no identifier in {table}", ("customer_id",), meta={"reference": f"{CUSTOMERS_TABLE}.customer_id"},
    )
    return _spec(IDENTIFIERS_TABLE, key, [customer_known_rule(key), golden], {"customers": customers},
                 reads=(CUSTOMERS_TABLE,), unit="identifiers")


def fct_sessions_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per session, ending no earlier than it starts, of a known customer or none."""
    key = ("session_id",)
    in_order = Rule(
        "session_timestamps_in_order", "ended_at", ("session_id", "started_at", "ended_at"), "rows",
        "s.ended_at < s.started_at", "end before they start", ("session_id", "started_at", "ended_at"),
        meta={"earlier": "started_at"},
    )
    return _spec(SESSIONS_TABLE, key, [in_order, customer_known_rule(key)], reads=(CUSTOMERS_TABLE,), unit="sessions")


def fct_conversion_paths_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per path (a conversion, or a visitor's non-converting journey)."""
    return _spec(PATHS_TABLE, ("path_id",), [], unit="paths")


def fct_attribution_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per (conversion, model, channel); known models; credits in [0, 1] summing to 1 per conversion and
    model, revenue credits summing to the conversion value. The sums are aggregated per conversion and model in
    DuckDB (sources "credits" and "revenue"); only the count of pairs that do not add up is read."""
    key = ("conversion_id", "model", "channel")
    tol, money = thresholds.attribution_credit_tolerance, thresholds.attribution_revenue_tolerance
    pair = "where conversion_id is not null and model is not null group by conversion_id, model"
    unit = "(conversion, model) pairs"
    sources = {
        "credits": Relation(f"select conversion_id, model, count(*) as channels, sum(credit) as credit_sum "
                          f"from {{table}} {pair}", unit),
        "revenue": Relation(f"select conversion_id, model, max(conversion_value) as conversion_value, "
                          f"sum(revenue_credit) as revenue_credit_sum from {{table}} {pair}", unit),
    }
    models = ", ".join(f"'{m}'" for m in ATTRIBUTION_MODELS)
    rules = [
        Rule("model_known", "model", ("model",), "rows", f"s.model is not null and s.model not in ({models})",
             f"have a model other than {', '.join(ATTRIBUTION_MODELS)}", (*key, "model"),
             meta={"value_set": list(ATTRIBUTION_MODELS)}),
        Rule("credit_in_range", "credit", (*key, "credit"), "rows",
             f"s.credit is null or s.credit < {-tol!r} or s.credit > {1 + tol!r}",
             "have a credit that is null or outside [0, 1]", (*key, "credit"),
             meta={"min_value": 0, "max_value": 1, "tolerance": tol}),
        Rule("credits_sum_to_one", "credit", ("conversion_id", "model", "credit"), "credits",
             f"s.credit_sum is null or abs(s.credit_sum - 1) > {tol!r}",
             "have credits that do not sum to 1",
             ("conversion_id", "model", "channels", "credit_sum"), worst="max(abs(s.credit_sum - 1))",
             worst_label="worst off by",
             meta={"tolerance": tol}),
        Rule("revenue_credits_sum_to_value", "revenue_credit",
             ("conversion_id", "model", "revenue_credit", "conversion_value"), "revenue",
             f"s.conversion_value is not null and (s.revenue_credit_sum is null "
             f"or abs(s.revenue_credit_sum - s.conversion_value) > {money!r})",
             "have revenue credits that do not sum to conversion_value",
             ("conversion_id", "model", "conversion_value", "revenue_credit_sum"),
             worst="max(abs(s.revenue_credit_sum - s.conversion_value))", worst_label="worst off by",
             meta={"tolerance": money}),
    ]
    return _spec(ATTRIBUTION_TABLE, key, rules, sources)


def customer_360_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per customer, every one of them in dim_customers; and every prediction of the night shown (customer_360
    is a view of a table dbt builds and of the predictions the step writes after it: docs/prediction.md)."""
    key = ("customer_id",)
    shown = Rule(
        "prediction_shown", "p_alive", (*key, "p_alive", "value_tier"), "rows",
        f"exists (select 1 from {PREDICTIONS_TABLE} as p where p.customer_id = s.customer_id "
        f"and (s.p_alive is distinct from p.p_alive or s.value_tier is null))",
        f"show another p_alive than {PREDICTIONS_TABLE}, or no value_tier, for a customer with a prediction",
        (*key, "p_alive", "value_tier"), meta={"reference": f"{PREDICTIONS_TABLE}.p_alive"})
    return _spec(CUSTOMER_360_TABLE, key, [customer_known_rule(key), shown],
                 reads=(CUSTOMERS_TABLE, PREDICTIONS_TABLE), unit="customers")


def fct_customer_journeys_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per known customer; stage timestamps in the orders the model guarantees (JOURNEY_STAGE_COLUMNS)."""
    key = ("customer_id",)
    rules = [customer_known_rule(key)]
    for stage in JOURNEY_STAGE_COLUMNS:
        rules.append(Rule(
            "stage_within_journey", stage, ("customer_id", "first_touch_at", stage, "last_touch_at"), "rows",
            f"s.{stage} is not null and not coalesce(s.{stage} between s.first_touch_at and s.last_touch_at, false)",
            f"have {stage} outside first_touch_at .. last_touch_at",
            ("customer_id", "first_touch_at", stage, "last_touch_at"), meta={"earlier": "first_touch_at",
                                                                             "later": "last_touch_at"},
        ))
    for earlier, later in JOURNEY_ORDERED_PAIRS:
        rules.append(Rule(
            "stage_timestamps_in_order", later, ("customer_id", earlier, later), "rows",
            f"s.{later} is not null and (s.{earlier} is null or s.{earlier} > s.{later})",
            f"have {later} before {earlier} (or without it)", ("customer_id", earlier, later),
            meta={"earlier": earlier},
        ))
    return _spec(JOURNEYS_TABLE, key, rules, reads=(CUSTOMERS_TABLE,), unit="customers")


def customer_predictions_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per known customer; p_alive in [0, 1]; expectations finite and non-negative; nothing null, a customer
    without a repeat purchase included (docs/prediction.md)."""
    key = ("customer_id",)
    rules = [customer_known_rule(key)]
    for column in PREDICTED_COLUMNS:
        rules.append(Rule("prediction_present", column, (*key, column), "rows",
                          f"s.{column} is null or not isfinite(s.{column})", f"have {column} null or not finite",
                          (*key, "frequency", column)))
    rules.append(Rule("probability_in_range", "p_alive", (*key, "p_alive"), "rows",
                      "s.p_alive < 0 or s.p_alive > 1", "have p_alive outside [0, 1]", (*key, "frequency", "p_alive"),
                      meta={"min_value": 0, "max_value": 1}))
    for column in EXPECTATION_COLUMNS:
        rules.append(Rule("expectation_not_negative", column, (*key, column), "rows", f"s.{column} < 0",
                          f"have a negative {column}", (*key, "frequency", column), worst=f"min(s.{column})",
                          worst_label="lowest:", meta={"min_value": 0}))
    return _spec(PREDICTIONS_TABLE, key, rules, reads=(CUSTOMERS_TABLE,), unit="customers")


def prediction_model_parameters_spec(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    """One row per (model, parameter), every value finite and positive; and every fit of the step converged
    (ops.prediction_fits: a fit skipped for want of customers is no failure)."""
    key = ("model", "parameter")
    fits = Relation(f"select * from {PREDICTION_FITS_TABLE}", "fits")
    rules = [
        Rule("parameter_finite_positive", "value", (*key, "value"), "rows",
             "s.value is null or not isfinite(s.value) or s.value <= 0", "have a value that is not finite and positive",
             (*key, "value"), meta={"min_value": 0, "strict_min": True}),
        Rule("fit_converged", "status", ("model",), "fits", "s.status is null or s.status = 'not_converged'",
             f"in {PREDICTION_FITS_TABLE} did not converge",
             ("model", "purpose", "status", "customers_fitted", "max_gradient_per_customer"),
             meta={"reference": PREDICTION_FITS_TABLE}),
    ]
    return _spec(PARAMETERS_TABLE, key, rules, {"fits": fits}, unit="parameters")  # the fits: the same step


# Each builds a spec from the thresholds and the moment of validation (rules about "the future" need it).
SPECS: Mapping[str, Callable[[MartThresholds, datetime | None], MartSpec]] = {
    CUSTOMERS_TABLE: dim_customers_spec,
    TOUCHPOINTS_TABLE: fct_touchpoints_spec,
    IDENTIFIERS_TABLE: customer_identifiers_spec,
    SESSIONS_TABLE: fct_sessions_spec,
    PATHS_TABLE: fct_conversion_paths_spec,
    ATTRIBUTION_TABLE: fct_attribution_spec,
    CUSTOMER_360_TABLE: customer_360_spec,
    JOURNEYS_TABLE: fct_customer_journeys_spec,
    PREDICTIONS_TABLE: customer_predictions_spec,
    PARAMETERS_TABLE: prediction_model_parameters_spec,
}


def mart_spec(table: str, thresholds: MartThresholds = MARTS, now: datetime | None = None) -> MartSpec:
    if table not in SPECS:
        raise KeyError(f"no integrity suite for {table!r}; known: {', '.join(SPECS)}")
    return SPECS[table](thresholds, now)


# --- suite, profile, samples ----------------------------------------------------------------------------------


def integrity_suite(spec: MartSpec, now: datetime | None = None) -> gx.ExpectationSuite:
    """The GX suite over the profile frame: the columns the rules read exist, and every violation count is 0."""
    now = now or utc_now()
    exps: list[gxe.Expectation] = [
        gxe.ExpectColumnToExist(column=c, meta=rule_meta("column_present", c)) for c in spec.columns]
    for r in spec.rules:
        tolerated = r.max_share is not None
        exps.append(gxe.ExpectColumnMaxToBeBetween(
            column=r.share_column if tolerated else r.count_column, max_value=r.max_share if tolerated else 0,
            meta=rule_meta(r.rule, r.column, columns=list(r.columns), counts=r.source, **r.meta)))
    return gx.ExpectationSuite(
        name=spec.table, expectations=exps,
        meta={"layer": "marts", "table": spec.table, "key": list(spec.key), "derived": [], "lineage": [],
              "profile": "one row of violation counts computed in DuckDB (expectations.mart_integrity)",
              "built_at": now.isoformat(timespec="seconds")},
    )


def _source_sql(spec: MartSpec, name: str) -> str:
    return spec.sources[name].sql.replace("{table}", spec.table)


def _rule_sql(spec: MartSpec, text: str) -> str:
    return text.replace("{table}", spec.table)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str] | None:
    """Column name -> type of `schema.table`, or None when there is no such table. A connection that knows its own
    catalog (orchestration.spark_steps.SparkReader, the gates of a Spark build) answers itself."""
    if hasattr(con, "table_columns"):
        return con.table_columns(table)
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position", [schema or "main", name]).fetchall()
    return {str(c): str(t) for c, t in rows} or None


def runnable_rules(spec: MartSpec, columns: Mapping[str, str]) -> list[Rule]:
    return [r for r in spec.rules if set(r.columns) <= columns.keys()]


def profile_sql(spec: MartSpec, rules: Sequence[Rule]) -> str:
    """One row: the mart's row count, each used source's row count, each rule's violation count (and worst)."""
    parts = [f"(select count(*) as _rows from {spec.table})"]
    for name in dict.fromkeys(r.source for r in rules):
        aggregates = [f"count(*) as {quote('_total__' + name)}"]
        for r in (r for r in rules if r.source == name):
            violation = _rule_sql(spec, r.violation)
            aggregates.append(f"count(*) filter (where {violation}) as {quote(r.count_column)}")
            if r.max_share is not None:  # an empty source breaks nothing
                aggregates.append(f"coalesce(count(*) filter (where {violation}) / nullif(count(*), 0), 0) "
                                  f"as {quote(r.share_column)}")
            if r.worst:
                aggregates.append(f"{r.worst} filter (where {violation}) as {quote('_worst__' + r.count_column)}")
        parts.append(f"(select {', '.join(aggregates)} from ({_source_sql(spec, name)}) as s)")
    return "select * from " + " cross join ".join(parts)


def sample_sql(spec: MartSpec, r: Rule, limit: int = SAMPLE_COUNT) -> str:
    """A few rows of the rule's source that break it, in a stable order."""
    return (f"select {_q(r.sample)} from ({_source_sql(spec, r.source)}) as s "
            f"where {_rule_sql(spec, r.violation)} order by {_q(r.sample)} limit {int(limit)}")


def profile(con: duckdb.DuckDBPyConnection, spec: MartSpec, columns: Mapping[str, str]) -> pd.DataFrame:
    """The profile frame: violation counts, plus one marker column (holding its type) per mart column present."""
    frame = con.execute(profile_sql(spec, runnable_rules(spec, columns))).df()
    for column in spec.columns:
        if column in columns:
            frame[column] = columns[column]
    return frame


def _missing_table(spec: MartSpec) -> QualityResult:
    failure = FailedExpectation(TABLE_PRESENT, "expect_table_to_exist", None,
                                f"{spec.table} does not exist in the warehouse", observed_value=spec.table)
    return QualityResult(spec.table, False, 0, 1, [failure])


def _explain(spec: MartSpec, result: QualityResult, row: Mapping[str, Any],
             samples: Callable[[Rule], list[dict[str, Any]]]) -> None:
    """Rewrite each failed rule as "N of M <unit> <what>", with sample rows (bounded query per failed rule)."""
    for i, failure in enumerate(result.failures):
        r = spec.rule_for(failure.rule, failure.column)
        if r is None or r.count_column not in row:
            continue
        count, total = int(row[r.count_column]), int(row["_total__" + r.source])
        unit = spec.sources[r.source].unit
        observed = f"{count:,} of {total:,} {unit} {_rule_sql(spec, r.what)}"
        worst = jsonable(row.get("_worst__" + r.count_column))
        if worst is not None:
            observed += f"; {r.worst_label} {worst:.6g}" if isinstance(worst, float) else f"; {r.worst_label} {worst}"
        if "tolerance" in r.meta:
            observed += f"; tolerance {r.meta['tolerance']:g}"
        allowed = 0.0 if r.max_share is None else 100.0 * r.max_share
        share = round(100.0 * count / total, 4) if total else None
        if r.max_share is None:
            observed += "; allowed 0"
        else:
            observed += f" ({'n/a' if share is None else format(share, 'g')}%); allowed {allowed:g}%"
        rows = samples(r)
        result.failures[i] = FailedExpectation(
            failure.rule, failure.expectation, failure.column, observed,
            unexpected_count=count, unexpected_percent=share,
            allowed_percent=allowed, observed_value=count, samples=[_sample_value(spec, r, s) for s in rows],
            sample_rows=rows,
        )


def _sample_value(spec: MartSpec, r: Rule, row: Mapping[str, Any]) -> Any:
    """What identifies a sample row in one value: its key (the parts the source has), else the rule's column."""
    key = [str(row[c]) for c in spec.key if c in row]
    return " | ".join(key) if key else row.get(r.column)


def validate_mart(
    connect: Callable[[], duckdb.DuckDBPyConnection], table: str, thresholds: MartThresholds = MARTS,
    sample_count: int = SAMPLE_COUNT, now: datetime | None = None,
) -> QualityResult:
    """Validate one mart's integrity suite. `connect()` opens the warehouse (read-only is enough); it is called
    once for the profile and, when a rule fails, once more for the samples, and each connection is closed."""
    now = now or utc_now()
    spec = mart_spec(table, thresholds, now)
    con = connect()
    try:
        columns = table_columns(con, spec.table)
        frame = profile(con, spec, columns) if columns is not None else None
    finally:
        con.close()
    if frame is None:
        return _missing_table(spec)
    result = validate(frame, integrity_suite(spec, now), sample_count=sample_count)
    row = {k: v.item() if hasattr(v, "item") else v for k, v in frame.iloc[0].items()}
    result.rows = int(row["_rows"])
    if not result.success:
        con = connect()
        try:
            def samples(r: Rule) -> list[dict[str, Any]]:
                cursor = con.execute(sample_sql(spec, r, sample_count))
                names = [d[0] for d in cursor.description]
                return [{n: jsonable(float(v) if isinstance(v, Decimal) else v)
                         for n, v in zip(names, values, strict=True)} for values in cursor.fetchall()]

            _explain(spec, result, row, samples)
        finally:
            con.close()
    return result
