"""Every tolerance the quality gates apply, in one place, with the reason for its default (ingestion reads the
timestamp floor and the future tolerance from here too).

A "mostly" value is the share of non-null values that must pass an expectation for the batch to pass
(Great Expectations' `mostly`): 0.95 means a batch fails once more than 5% of its values break the rule.
Rows that break a row-level rule are the ingestion's business (quarantine, or a nulled optional field);
these thresholds decide when a whole batch is too broken to let through to dbt.

The timestamp floor can be moved without touching code: set JOURNEY_QUALITY_TIMESTAMP_FLOOR=YYYY-MM-DD.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

TIMESTAMP_FLOOR_ENV = "JOURNEY_QUALITY_TIMESTAMP_FLOOR"
# A timestamp more than this after its reference time is "in the future" (clock skew, time zones, a day's export
# cut at midnight somewhere east of UTC). One tolerance, two references: ingestion measures from the row's export
# date (quarantine reason `timestamp_in_future`; deterministic, so reloading an old export rejects the same rows),
# the quality gates from the moment they validate (raw `timestamp_not_future`, fct_touchpoints), the latest any row
# of tonight's export can honestly be.
FUTURE_TOLERANCE = timedelta(days=2)
# The oldest floor accepted: a floor before it is a typo (no export carries such dates). The gates once compared
# timestamps in pandas nanoseconds (from 1678 on); they now compare in DuckDB, which has no such limit.
OLDEST_FLOOR = date(1700, 1, 1)


def default_timestamp_floor() -> date:
    """The oldest plausible timestamp: 1970-01-01 unless JOURNEY_QUALITY_TIMESTAMP_FLOOR says otherwise."""
    value = os.environ.get(TIMESTAMP_FLOOR_ENV, "").strip()
    if not value:
        return date(1970, 1, 1)
    try:
        floor = date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{TIMESTAMP_FLOOR_ENV}={value!r} is not a date; use YYYY-MM-DD, e.g. 1990-01-01") from exc
    if floor < OLDEST_FLOOR:
        raise ValueError(f"{TIMESTAMP_FLOOR_ENV}={value!r} is before {OLDEST_FLOOR}, the oldest floor accepted "
                         "(an older one is most likely a typo); use a later date")
    return floor


def share_lower_bound(count: int, total: int, confidence: float) -> float:
    """The lower bound of a one-sided Clopper-Pearson interval of the share count / total at `confidence`.

    The exact (binomial) interval: the bound p is the share at which `count` or more of `total` have probability
    1 - confidence, i.e. the (1 - confidence) quantile of Beta(count, total - count + 1). Exact rather than Wilson's
    approximation because batches are often small (tens of rows), where the normal approximation under-covers; 0
    when count is 0. The reject-rate gate (orchestration/defs/quality/batch.py) and the raw gates' rate rules
    (expectations/raw_profile.py) judge a share by it: a small batch fails only when it is evidently worse than the
    threshold, a large one as soon as its share is clearly above it."""
    if count <= 0 or total <= 0:
        return 0.0
    from scipy.stats import beta  # imported when a check runs: the definitions load without scipy.stats

    return float(beta.ppf(1.0 - confidence, count, total - count + 1))


@dataclass(frozen=True)
class RawThresholds:
    """Tolerances for one raw source's batch (the rows of one load)."""

    # Share of rows that do not repeat an earlier row's key (key + version timestamp for versioned sources).
    # Exports are delivered at least once, so a few re-sends are normal (staging drops exact copies).
    key_unique_mostly: float = 0.95
    # Share of rows whose key (key + version timestamp for versioned sources) is not shared with a row of
    # *different* content. Two different records under one id is a real conflict, not a re-send.
    key_conflict_free_mostly: float = 0.99
    # Share of enum values (trimmed, lower-cased, as staging does) that are in the contract's list.
    enum_known_mostly: float = 0.95
    # Share of rows with an enum value at all: a flood of empty values means a renamed or dropped column.
    enum_populated_mostly: float = 0.90
    # Share of non-empty emails / phones that are well-formed. Exports carry placeholders and garbage
    # ("unknown", "n/a"); identity resolution ignores those, but a flood means a broken export.
    email_valid_mostly: float = 0.90
    phone_valid_mostly: float = 0.90
    # Optional timestamps and numerics: a bad value is nulled and recorded by ingestion, the row is kept.
    optional_parse_mostly: float = 0.95
    # Money is strict: every amount needs a currency we know.
    currency_known_mostly: float = 1.0
    # A rate rule (mostly < 1) fails only when more than this many values break it, so that the nightly batch of a
    # small source (a dozen app events, one of them re-sent) is not failed by a single pair. 0 disables it.
    small_batch_allowance: int = 2
    # ... and only when the batch is evidently worse than the rule's threshold: the lower bound of a one-sided
    # Clopper-Pearson interval of its share of bad values, at this confidence, is above 1 - mostly (as the reject
    # rate is judged, below). The plain share stopped a small shop's night on noise: the generator writes the
    # placeholder "unknown" as the e-mail of 4% of support tickets, and 5 of a night's 45 tickets (11.1%, bound
    # 2.9%) broke the 10% allowed; a source at 4% gives such a night now and then. A batch at twice the 10% allowed
    # fails from 70 values (14 of 70: bound 10.2%), at 1.5 times from 250 (38: 10.3%), at 1.25 times from 2,000.
    rate_rule_confidence: float = 0.99
    # Timestamps before this date are implausible; None: default_timestamp_floor() when the suite is built.
    timestamp_floor: date | None = None
    # Timestamps later than now + this are in the future (FUTURE_TOLERANCE, as at ingestion).
    future_tolerance: timedelta = FUTURE_TOLERANCE
    # Two timestamps that must be in order (placed before updated, opened before closed) may be this far out of
    # order: they come from different systems' clocks (the sample's orders are up to a second apart).
    clock_skew: timedelta = timedelta(minutes=5)
    # Plausible ranges of numeric columns, (min, max), None for open; checked at optional_parse_mostly.
    numeric_ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # Batch gate on ingestion's books (orchestration/defs/quality/batch.py): a file fails the run when its export
    # is evidently worse than `max_reject_rate`, i.e. the lower bound of a one-sided Clopper-Pearson interval of
    # its quarantined share, at `reject_rate_confidence`, is above it, and it has at least `min_rejected_rows`
    # rejects (a 2-row file with one bad row is noise, a 500-row file of garbage is a broken export). The share
    # alone would stop a small shop's night on noise: 5 rejects in an 88-row file is 5.7%, yet a source that
    # rejects 1% of its rows produces such a file now and then (bound: 1.5%).
    max_reject_rate: float = 0.05
    min_rejected_rows: int = 5
    # Confidence that a failing file's true reject share is above max_reject_rate. A source sitting exactly at
    # the threshold then fails at most 1 file in 100 by chance, one well under it (the generator's ~0.5%)
    # practically never; a file twice as bad still fails from about 200 rows (19 of 200, 9.5%: bound 5.3%;
    # 18 of 200: 4.9%), and from 1,000 rows a share of 6.8% fails. At 0.95 a source at the threshold would fail
    # 1 file in 20: with eight sources delivering every night, a stop every few nights for a source that is not
    # broken.
    reject_rate_confidence: float = 0.99
    # Volume gate: rows of tonight's export date(s) below this share of the median of the previous
    # `volume_lookback` export dates mean the export collapsed; only judged once that median is at least
    # `volume_min_baseline_rows` (tiny sources vary too much night to night).
    volume_collapse_ratio: float = 0.2
    volume_lookback: int = 7
    volume_min_baseline_rows: int = 50


# One explicit entry per source, so a reviewer sees (and tunes) each source's tolerances here.
RAW: Mapping[str, RawThresholds] = MappingProxyType({
    "web_events": RawThresholds(key_unique_mostly=0.95, enum_known_mostly=0.95),
    "app_events": RawThresholds(key_unique_mostly=0.95, enum_known_mostly=0.95),
    # Versioned: the key is unique per (order_id, order_updated_at); several versions of an order are normal.
    "orders": RawThresholds(
        key_unique_mostly=0.95, enum_known_mostly=0.95, email_valid_mostly=0.90, phone_valid_mostly=0.90,
        currency_known_mostly=1.0,
    ),
    # Till staff type "unknown" when a shopper will not give a phone number: a large share of POS phones are
    # such placeholders (identity guards ignore them), so only a flood of malformed phones fails the batch.
    "pos_transactions": RawThresholds(
        key_unique_mostly=0.95, phone_valid_mostly=0.70, currency_known_mostly=1.0,
        numeric_ranges={"items_count": (0, None)},
    ),
    "email_events": RawThresholds(key_unique_mostly=0.95, enum_known_mostly=0.95, email_valid_mostly=0.90),
    # Versioned: the key is unique per (contact_id, updated_at).
    "crm_contacts": RawThresholds(key_unique_mostly=0.95, email_valid_mostly=0.90, phone_valid_mostly=0.90),
    "support_tickets": RawThresholds(
        key_unique_mostly=0.95, enum_known_mostly=0.95, email_valid_mostly=0.90, phone_valid_mostly=0.90,
        numeric_ranges={"satisfaction_score": (0, None)},
    ),
    "reviews": RawThresholds(
        key_unique_mostly=0.95, enum_known_mostly=0.95, email_valid_mostly=0.90,
        numeric_ranges={"rating": (1, 5)},
    ),
})


@dataclass(frozen=True)
class MartThresholds:
    """Tolerances for the marts. Marts are built by us, so most rules are strict."""

    # Share of touchpoints whose customer_id, when present, is in dim_customers (1.0: a dangling id is a bug).
    touchpoint_customer_known_mostly: float = 1.0
    # Share of touchpoints that carry a customer_id at all. Anonymous touchpoints (a web visit nobody logged
    # into) legitimately have none, so 0.0 disables the rule; raise it once stitching covers every source.
    touchpoint_customer_present_mostly: float = 0.0
    # Share of touchpoints with a channel (channel mapping seeds should cover every source/medium).
    touchpoint_channel_populated_mostly: float = 0.99
    timestamp_floor: date | None = None
    future_tolerance: timedelta = FUTURE_TOLERANCE
    # The integrity rules of expectations/mart_integrity.py (one row per key, known customers, golden records with
    # an identifier, stage timestamps in order, attribution) allow no violation at all: a broken one is a bug in a
    # model, not noise in an export. Only the attribution sums are floating point and need a tolerance:
    # Per conversion and model, |sum(credit) - 1| may be at most this; each credit may also be this far outside
    # [0, 1]. fct_attribution rounds every credit to 12 decimals, so honest sums are off by ~1e-11; a lost or
    # doubled channel is off by at least 1/(channels in the path), far above 1e-6.
    attribution_credit_tolerance: float = 1e-6
    # Per conversion and model, |sum(revenue_credit) - conversion_value| may be at most this, in the reporting
    # currency: one cent. Revenue credits are rounded to 8 decimals, so honest sums are off by ~1e-8.
    attribution_revenue_tolerance: float = 0.01


MARTS = MartThresholds()


def raw_thresholds(source: str) -> RawThresholds:
    """The thresholds of one raw source; a KeyError names the known sources."""
    try:
        return RAW[source]
    except KeyError:
        raise KeyError(f"no quality thresholds for source {source!r}; known: {', '.join(sorted(RAW))}") from None
