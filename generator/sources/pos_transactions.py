"""pos_transactions: till sales in the stores, one row per purchase.

A sale carries the store, the amount (always USD) and the number of items. Its only identifiers are the
loyalty_id, when the member shows the card (80%), and a phone when the cashier asks for one; many sales are
anonymous. A loyalty member's first visit signs them up at the till: staff type the details into the
store tablet, which the CRM receives as a loyalty sign-up (`crm_contacts`), often with a placeholder email.
Times are store-local wall-clock without an offset (30%) or with '+00:00'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import CITIES, addr_of, email_of
from generator.shop import money

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "pos_transactions"
COLUMNS = ("transaction_id", "occurred_at", "store_id", "loyalty_id", "phone", "total_amount", "currency",
           "items_count")  # the order of the row tuples below


def store_visit(w: World, p: Person, t: int, join: bool) -> None:
    """A store purchase; the first visit of a loyalty member signs them up (staff type the details)."""
    rng = w.rng
    p.customer = True
    if join and not p.loyalty_id:
        _join_loyalty(w, p, t)
    presented = bool(p.loyalty_id) and rng.random() < 0.8
    phone = mess.given_phone(w, p, SOURCE, staff=True) if rng.random() < (0.2 if presented else 0.55) else ""
    n = rng.choices((1, 2, 3, 4, 5), (40, 25, 15, 12, 8))[0]
    cents = sum(w.shop.product(rng)[1] for _ in range(n))
    stamp = w.ts_naive(t) if rng.random() < 0.3 else w.ts_offset(t, 0)
    store = p.store_id if rng.random() < 0.9 else rng.choice(w.shop.stores[CITIES[rng.randrange(len(CITIES))][0]])
    loyalty = p.loyalty_id if presented else ""
    row = (w.ids.hex("pos", "T", bits=40), stamp, store, loyalty, phone, money(cents), "USD", str(n))
    w.emit(SOURCE, p, t, row, duplicable=True)


def _join_loyalty(w: World, p: Person, t: int) -> None:
    """The loyalty sign-up at the till, as staff type it; the CRM receives it two minutes later."""
    rng, r = w.rng, w.rates
    p.loyalty_id = w.ids.dec("loyalty", "LY", 8, 1)
    if rng.random() < r.staff_placeholder:
        email = mess.PLACEHOLDER_EMAILS[0] if rng.random() < 0.85 else mess.PLACEHOLDER_EMAILS[1]
    else:
        email = mess.typed_email(w, email_of(w, p, t))
    phone = mess.given_phone(w, p, "crm_contacts", staff=True)  # the tablet writes the CRM's phone format
    birth = mess.typed_birth(w, p, us_format=rng.random() < 0.3) if rng.random() < 0.8 else ""
    address = mess.typed_address(w, addr_of(p, t)) if rng.random() < 0.7 else None
    consent = "true" if p.subscribes and rng.random() < 0.5 else rng.choice(("false", ""))
    p.crm_events.append((t + 120, "loyalty", (p.loyalty_id, mess.typed_name(w, p), phone, birth, address,
                                              email, consent)))
    if consent == "true" and p.sub_t is None and "@example.com" not in email and "@" in email:
        p.sub_t = t + 120
