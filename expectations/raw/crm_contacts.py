"""Suite for raw.crm_contacts.

CRM contact versions: several rows per contact_id, unique per (contact_id, updated_at).

Shared contract rules come from `build_raw_suite`; thresholds from `expectations.thresholds.RAW["crm_contacts"]`.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx

from expectations.raw._common import build_raw_suite
from expectations.thresholds import RawThresholds, raw_thresholds

SOURCE = "crm_contacts"


def suite(thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """Expectations on one load of raw.crm_contacts; `now` (naive UTC) defaults to the current time."""
    t = thresholds or raw_thresholds(SOURCE)
    return build_raw_suite(SOURCE, t, now)
