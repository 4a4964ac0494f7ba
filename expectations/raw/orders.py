"""Suite for raw.orders.

Order versions: several rows per order_id (status updates), unique per (order_id, order_updated_at).

Shared contract rules come from `build_raw_spec`; thresholds from `rules.thresholds.RAW["orders"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec
from expectations.raw_profile import RawSpec, profile_suite
from rules.thresholds import RawThresholds, raw_thresholds

SOURCE = "orders"


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.orders, aggregated in DuckDB (expectations.raw_profile)."""
    # An order is placed before (or when) any of its versions is written.
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now,
                          ordered=[("placed_at", "order_updated_at", "placed_before_updated")])


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """The GX suite that judges the profile of one load of raw.orders."""
    return profile_suite(spec(thresholds, now))
