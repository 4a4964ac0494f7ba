"""Suite for raw.pos_transactions.

Till sales: one row per transaction; phone and loyalty_id are empty for anonymous sales.

Shared contract rules come from `build_raw_suite`; thresholds from `expectations.thresholds.RAW["pos_transactions"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec, build_raw_suite
from expectations.raw_profile import RawSpec
from expectations.thresholds import RawThresholds, raw_thresholds

SOURCE = "pos_transactions"


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """Expectations on one load of raw.pos_transactions; `now` (naive UTC) defaults to the current time."""
    t = thresholds or raw_thresholds(SOURCE)
    return build_raw_suite(SOURCE, t, now)


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.pos_transactions, aggregated in DuckDB (expectations.raw_profile)."""
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now)
