"""orders: web and app orders, one row per status change (placed, paid, shipped, delivered, cancelled, returned).

Each row repeats the customer as typed at checkout: user_id (empty for a guest), email, phone, name and
shipping address; order_updated_at (ISO with milliseconds) orders the versions, placed_at is sometimes
missing on later versions. An order also sends transactional emails (`email_events`), and may lead to a
review after delivery (`reviews`) or a support ticket (`support_tickets`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import addr_of, email_of
from generator.shop import money
from generator.sources import email_events, reviews, support_tickets

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "orders"
COLUMNS = ("order_id", "order_updated_at", "placed_at", "user_id", "email", "phone", "first_name", "last_name",
           "street", "city", "postcode", "country", "status", "total_amount", "currency",
           "sales_channel")  # the order of the row tuples below


def place(w: World, p: Person, t: int, channel: str, uid: str) -> str:
    """An order and its status history: one row per status change, each with a later order_updated_at.
    Returns the order id."""
    rng, r, W = w.rng, w.rates, w.window
    p.customer = True
    oid = w.ids.dec("order", "O", 7, 8)
    w.order_person[oid] = p.pid
    n = rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
    items = [w.shop.product(rng) for _ in range(n)]
    cents = sum(price for _, price in items)
    cents += 599 if cents < 5000 else 0  # shipping
    currency = rng.choice(("EUR", "GBP")) if rng.random() < r.non_usd else "USD"
    email = mess.typed_email(w, email_of(w, p, t))
    phone = mess.given_phone(w, p, SOURCE) if rng.random() < 0.75 else ""
    first, last = mess.typed_name(w, p)
    address = mess.typed_address(w, addr_of(p, t))
    p.crm_events.append((t + 5, "order", (email, phone, (first, last), address)))
    versions = [("placed", t)]
    if rng.random() < r.order_cancel * 0.6:
        versions.append(("cancelled", t + rng.randint(600, 36000)))
    else:
        paid = t + rng.randint(20, 900)
        shipped = paid + rng.randint(43200, 259200)
        delivered = shipped + rng.randint(86400, 345600)
        versions += [("paid", paid), ("shipped", shipped), ("delivered", delivered)]
        if rng.random() < r.order_cancel * 0.4:
            versions[2:] = [("cancelled", paid + rng.randint(600, 20000))]
        elif rng.random() < r.order_return:
            versions.append(("returned", delivered + rng.randint(2 * 86400, 14 * 86400)))
    placed_text = _stamp(w, t)
    amount = money(cents)
    delivered_t = None
    returned = False
    for status, when in versions:
        if when >= W:
            break
        placed_at = placed_text if status == "placed" or rng.random() >= 0.1 else ""
        stamp = placed_text if status == "placed" else _stamp(w, when)
        w.emit(SOURCE, p, when, (oid, stamp, placed_at, uid, email, phone, first, last, *address, status, amount,
                                 currency, channel))
        if status == "shipped":
            email_events.send(w, p, when + 120, email.strip(), "txn-shipping-update", "sent")
        elif status == "delivered":
            delivered_t = when
        elif status == "returned":
            returned = True
    if t + 30 < W:
        email_events.send(w, p, t + 30, email.strip(), "txn-order-confirmation", "sent")
        if rng.random() < 0.5 and t + 600 < W:
            email_events.send(w, p, t + rng.randint(120, 36000), email.strip(), "txn-order-confirmation", "open")
    if delivered_t is not None and rng.random() < 0.18:
        reviews.post(w, p, delivered_t + rng.randint(86400, 10 * 86400), items[0][0], uid)
    if returned and rng.random() < 0.4:
        support_tickets.open_ticket(w, p, delivered_t + rng.randint(86400, 5 * 86400), "returns")
    elif rng.random() < 0.08:
        category = rng.choice(("delivery", "delivery", "billing", "product"))
        support_tickets.open_ticket(w, p, t + rng.randint(3600, 10 * 86400), category)
    return oid


def _stamp(w: World, t: int) -> str:
    """order_updated_at as the shop writes it: ISO with milliseconds, sometimes without an offset."""
    return w.ts_naive(t, "T") if w.rng.random() < w.rates.naive_timestamp else w.ts_millis(t)
