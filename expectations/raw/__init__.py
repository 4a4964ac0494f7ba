"""Rules of the raw sources: one module per source, each with `spec(thresholds=None, now=None)` (the rules, counted
in DuckDB by expectations.raw_profile) and `suite(thresholds=None, now=None)` (the GX suite that judges the counts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import great_expectations as gx

from expectations.raw import (
    app_events,
    crm_contacts,
    email_events,
    orders,
    pos_transactions,
    reviews,
    support_tickets,
    web_events,
)
from expectations.raw_profile import RawSpec
from rules.thresholds import RawThresholds

RAW_SUITES: dict[str, Callable[..., gx.ExpectationSuite]] = {
    module.SOURCE: module.suite
    for module in (web_events, app_events, orders, pos_transactions, email_events, crm_contacts, support_tickets,
                   reviews)
}


def raw_suite(source: str, thresholds: RawThresholds | None = None, now: datetime | None = None) -> gx.ExpectationSuite:
    """The suite of one raw source by name."""
    try:
        build = RAW_SUITES[source]
    except KeyError:
        raise KeyError(f"no suite for source {source!r}; known: {', '.join(sorted(RAW_SUITES))}") from None
    return build(thresholds=thresholds, now=now)


RAW_SPECS: dict[str, Callable[..., RawSpec]] = {
    module.SOURCE: module.spec
    for module in (web_events, app_events, orders, pos_transactions, email_events, crm_contacts, support_tickets,
                   reviews)
}


def raw_spec(source: str, thresholds: RawThresholds | None = None, now: datetime | None = None) -> RawSpec:
    """The rules of one raw source by name (aggregated in DuckDB, see expectations.raw_profile)."""
    try:
        build = RAW_SPECS[source]
    except KeyError:
        raise KeyError(f"no rules for source {source!r}; known: {', '.join(sorted(RAW_SPECS))}") from None
    return build(thresholds=thresholds, now=now)
