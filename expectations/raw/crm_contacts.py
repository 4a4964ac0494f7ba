"""Suite for raw.crm_contacts.

CRM contact versions: several rows per contact_id, unique per (contact_id, updated_at).

Shared contract rules come from `build_raw_suite`; thresholds from `expectations.thresholds.RAW["crm_contacts"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_spec, build_raw_suite
from expectations.raw_profile import RawSpec
from expectations.thresholds import RawThresholds, raw_thresholds

SOURCE = "crm_contacts"


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """Expectations on one load of raw.crm_contacts; `now` (naive UTC) defaults to the current time."""
    t = thresholds or raw_thresholds(SOURCE)
    return build_raw_suite(SOURCE, t, now)


def spec(thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules on one load of raw.crm_contacts, aggregated in DuckDB (expectations.raw_profile)."""
    return build_raw_spec(SOURCE, thresholds or raw_thresholds(SOURCE), now)
