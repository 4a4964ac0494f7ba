"""Suite for raw.support_tickets.

Support tickets: one row per ticket; closed_at is empty while a ticket is open.

Shared contract rules come from `build_raw_spec`; thresholds from `rules.thresholds.RAW["support_tickets"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec
from expectations.raw_profile import RawSpec, profile_suite
from rules.thresholds import RawThresholds, raw_thresholds

SOURCE = "support_tickets"


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.support_tickets, aggregated in DuckDB (expectations.raw_profile)."""
    # A ticket is closed after it was opened.
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now,
                          ordered=[("opened_at", "closed_at", "opened_before_closed")])


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """The GX suite that judges the profile of one load of raw.support_tickets."""
    return profile_suite(spec(thresholds, now))
