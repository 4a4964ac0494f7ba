"""The row-by-row suite of marts.dim_customers: one row per customer id, none without one.

The column names below are the ones the mart must expose; a mart that names them differently fails its
`column_present` expectations, which is the point (BI and the summary read these names). The check reads only
the key, in chunks that keep every key in one chunk.

Every other mart (fct_touchpoints, customer_identifiers, fct_sessions, fct_conversion_paths, fct_attribution,
customer_360, fct_customer_journeys) has an integrity suite in expectations.mart_integrity, computed as violation
counts in DuckDB: fct_touchpoints was validated row by row here until a 10-million-row mart took 100 s to pull
into pandas; the aggregate reads it in a few seconds.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.raw._common import rule, utc_now
from rules.thresholds import MARTS, MartThresholds

CUSTOMERS_TABLE = "marts.dim_customers"
CUSTOMER_KEY = "customer_id"
CUSTOMER_COLUMNS = (CUSTOMER_KEY,)


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

