"""One module per source system: what it records, which identifiers it knows, and how its rows are made.

    web_events        website visits: cookies, logins, UTM-tagged landings; a purchase -> orders
    app_events        app sessions: device ids, local time; a purchase -> orders
    orders            web and app orders, one row per status -> email_events, reviews, support_tickets
    pos_transactions  till sales in the stores; a loyalty sign-up at the till -> crm_contacts
    email_events      newsletters and transactional emails; a newsletter click starts a visit
    crm_contacts      contacts folded from sign-ups, orders, loyalty sign-ups, unsubscribes, moves
    support_tickets   customer service tickets
    reviews           reviews after delivery

Each module names its SOURCE (as in the contract) and its COLUMNS: the order its row tuples are built in.
`check_contract` compares them with the contract, so a contract change fails loudly instead of shifting
values into the wrong columns. Rows go to `World.emit`; who does what when is decided in `journeys.py`.
"""

from __future__ import annotations

from generator.sources import (
    app_events,
    crm_contacts,
    email_events,
    orders,
    pos_transactions,
    reviews,
    support_tickets,
    web_events,
)
from rules.contract import SOURCES

MODULES = (web_events, app_events, orders, pos_transactions, email_events, crm_contacts, support_tickets, reviews)
SOURCE_NAMES = tuple(m.SOURCE for m in MODULES)  # the order sources are written in, and so the truth's rows


def check_contract() -> None:
    """Fail if the contract's sources or columns no longer match the rows the modules build."""
    if set(SOURCE_NAMES) != set(SOURCES):
        raise RuntimeError(f"contract sources {sorted(SOURCES)} differ from generator/sources {sorted(SOURCE_NAMES)}")
    for module in MODULES:
        if SOURCES[module.SOURCE].all_columns != module.COLUMNS:
            raise RuntimeError(f"contract columns of {module.SOURCE} changed; update {module.__name__} to match")
