"""Suites for the marts: marts.fct_touchpoints and marts.dim_customers.

The column names below are the ones the marts must expose; a mart that names them differently fails its
`column_present` expectations, which is the point (BI and the summary read these names).

"Every touchpoint belongs to a known customer" spans two tables, and a GX pandas batch is one table, so the
check computes it in SQL first: `UNKNOWN_CUSTOMER_COLUMN` holds a touchpoint's customer_id when that id is not in
dim_customers (null otherwise), and the suite expects it to be null. A null customer_id is allowed (anonymous
touchpoints); `MartThresholds.touchpoint_customer_present_mostly` can require ids once stitching covers them.

These two suites validate every row (in chunks). The other marts (customer_identifiers, fct_sessions,
fct_conversion_paths, fct_attribution, customer_360, fct_customer_journeys) have integrity suites in
expectations.mart_integrity, computed as violation counts in DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from expectations.prepare import derive
from expectations.raw._common import floor_datetime, rule, utc_now
from expectations.thresholds import MARTS, MartThresholds
from orchestration.lib.contract import SOURCES
from orchestration.lib.warehouse import quote

TOUCHPOINTS_TABLE = "marts.fct_touchpoints"
CUSTOMERS_TABLE = "marts.dim_customers"
TOUCHPOINT_KEY = "touchpoint_id"
CUSTOMER_KEY = "customer_id"
TOUCHPOINT_COLUMNS = (TOUCHPOINT_KEY, "source_name", CUSTOMER_KEY, "occurred_at", "channel")
CUSTOMER_COLUMNS = (CUSTOMER_KEY,)
UNKNOWN_CUSTOMER_COLUMN = "_unknown_customer_id"


def touchpoints_sql(
    touchpoints: str = TOUCHPOINTS_TABLE, customers: str = CUSTOMERS_TABLE, where: str = "",
    columns: Sequence[str] | None = None,
) -> str:
    """Touchpoints (all columns, or only `columns`) plus UNKNOWN_CUSTOMER_COLUMN: the customer_id when
    dim_customers does not know it."""
    selected = ", ".join(f"t.{quote(c)}" for c in columns) if columns else "t.*"
    return (
        f"select {selected}, case when t.{CUSTOMER_KEY} is not null and not exists ("
        f"select 1 from {customers} as c where c.{CUSTOMER_KEY} = t.{CUSTOMER_KEY}) "
        f"then cast(t.{CUSTOMER_KEY} as varchar) end as {UNKNOWN_CUSTOMER_COLUMN} "
        f"from {touchpoints} as t {where}"
    )


def attach_unknown_customers(touchpoints: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The same SQL as the check runs in the warehouse, over two DataFrames (for tests and ad-hoc use)."""
    con = duckdb.connect()
    try:
        con.register("touchpoints", touchpoints)
        con.register("customers", customers)
        return con.execute(touchpoints_sql("touchpoints", "customers")).df()
    finally:
        con.close()


def fct_touchpoints_suite(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> gx.ExpectationSuite:
    """One row per touchpoint, on a plausible timeline, from a known source, owned by a known customer or none."""
    now = now or utc_now()
    parsed = "occurred_at__utc"
    exps: list[gxe.Expectation] = []
    for column in TOUCHPOINT_COLUMNS:
        exps.append(gxe.ExpectColumnToExist(column=column, meta=rule("column_present", column)))
    exps.append(gxe.ExpectColumnValuesToNotBeNull(column=TOUCHPOINT_KEY, meta=rule("key_not_null", TOUCHPOINT_KEY)))
    exps.append(gxe.ExpectColumnValuesToBeUnique(column=TOUCHPOINT_KEY, meta=rule("key_unique", TOUCHPOINT_KEY)))
    exps.append(gxe.ExpectColumnValuesToNotBeNull(column="occurred_at", meta=rule("timestamp_present", "occurred_at")))
    exps.append(gxe.ExpectColumnValuesToBeBetween(
        column=parsed, max_value=now + thresholds.future_tolerance,
        meta=rule("timestamp_not_future", "occurred_at", parsed=parsed)))
    exps.append(gxe.ExpectColumnValuesToBeBetween(
        column=parsed, min_value=floor_datetime(thresholds.timestamp_floor),
        meta=rule("timestamp_not_before_floor", "occurred_at", parsed=parsed)))
    exps.append(gxe.ExpectColumnValuesToNotBeNull(column="source_name", meta=rule("source_present", "source_name")))
    exps.append(gxe.ExpectColumnValuesToBeInSet(
        column="source_name", value_set=sorted(SOURCES), meta=rule("source_known", "source_name")))
    exps.append(gxe.ExpectColumnValuesToNotBeNull(
        column="channel", mostly=thresholds.touchpoint_channel_populated_mostly,
        meta=rule("channel_populated", "channel")))
    exps.append(gxe.ExpectColumnValuesToBeNull(
        column=UNKNOWN_CUSTOMER_COLUMN, mostly=thresholds.touchpoint_customer_known_mostly,
        meta=rule("customer_known", CUSTOMER_KEY, reference=f"{CUSTOMERS_TABLE}.{CUSTOMER_KEY}")))
    if thresholds.touchpoint_customer_present_mostly > 0:
        exps.append(gxe.ExpectColumnValuesToNotBeNull(
            column=CUSTOMER_KEY, mostly=thresholds.touchpoint_customer_present_mostly,
            meta=rule("customer_present", CUSTOMER_KEY)))
    return gx.ExpectationSuite(
        name=TOUCHPOINTS_TABLE,
        expectations=exps,
        meta={"layer": "marts", "table": TOUCHPOINTS_TABLE, "key": [TOUCHPOINT_KEY],
              "derived": [derive(parsed, "timestamp", "occurred_at")], "lineage": [],
              "built_at": now.isoformat(timespec="seconds")},
    )


def dim_customers_suite(thresholds: MartThresholds = MARTS, now: datetime | None = None) -> gx.ExpectationSuite:
    """One row per customer id, none without an id."""
    now = now or utc_now()
    exps: list[gxe.Expectation] = []
    for column in CUSTOMER_COLUMNS:
        exps.append(gxe.ExpectColumnToExist(column=column, meta=rule("column_present", column)))
    exps.append(gxe.ExpectColumnValuesToNotBeNull(column=CUSTOMER_KEY, meta=rule("key_not_null", CUSTOMER_KEY)))
    exps.append(gxe.ExpectColumnValuesToBeUnique(column=CUSTOMER_KEY, meta=rule("key_unique", CUSTOMER_KEY)))
    return gx.ExpectationSuite(
        name=CUSTOMERS_TABLE,
        expectations=exps,
        meta={"layer": "marts", "table": CUSTOMERS_TABLE, "key": [CUSTOMER_KEY], "derived": [], "lineage": [],
              "built_at": now.isoformat(timespec="seconds")},
    )


MART_SUITES = {TOUCHPOINTS_TABLE: fct_touchpoints_suite, CUSTOMERS_TABLE: dim_customers_suite}
