"""Suite for raw.web_events.

Web analytics events: one row per event, at-least-once delivery (a few exact re-sends are normal).

Shared contract rules come from `build_raw_suite`; thresholds from `expectations.thresholds.RAW["web_events"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec, build_raw_suite
from expectations.raw_profile import RawSpec
from expectations.thresholds import RawThresholds, raw_thresholds

SOURCE = "web_events"


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """Expectations on one load of raw.web_events; `now` (naive UTC) defaults to the current time."""
    t = thresholds or raw_thresholds(SOURCE)
    return build_raw_suite(SOURCE, t, now)


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.web_events, aggregated in DuckDB (expectations.raw_profile)."""
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now)
