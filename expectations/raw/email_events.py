"""Suite for raw.email_events.

Email engagement events (sent, open, click, ...): one row per event.

Shared contract rules come from `build_raw_spec`; thresholds from `rules.thresholds.RAW["email_events"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec
from expectations.raw_profile import RawSpec, profile_suite
from rules.thresholds import RawThresholds, raw_thresholds

SOURCE = "email_events"


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.email_events, aggregated in DuckDB (expectations.raw_profile)."""
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now)


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """The GX suite that judges the profile of one load of raw.email_events."""
    return profile_suite(spec(thresholds, now))
