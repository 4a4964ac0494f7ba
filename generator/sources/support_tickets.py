"""support_tickets: customer service tickets, one row per ticket (opened, closed, satisfaction score).

Tickets follow orders (delivery, billing, product, returns) and, rarely, come from people who never buy.
By email or chat the customer's email is known (sometimes a phone too); by phone or in store staff type a
phone, maybe an email, or a placeholder. 20% of opened_at values are in the customer's local time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import email_of

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "support_tickets"
COLUMNS = ("ticket_id", "opened_at", "closed_at", "email", "phone", "contact_channel", "category",
           "satisfaction_score")  # the order of the row tuples below


def open_ticket(w: World, p: Person, t: int, category: str) -> None:
    rng = w.rng
    if t >= w.window:
        return
    channel = rng.choices(("email", "chat", "phone", "store"), (40, 25, 25, 10))[0]
    if channel in ("email", "chat"):
        email = mess.typed_email(w, email_of(w, p, t))
        phone = mess.given_phone(w, p, SOURCE) if rng.random() < 0.2 else ""
    else:
        roll = rng.random()
        if roll < 0.3:
            email = mess.typed_email(w, email_of(w, p, t))
        elif roll < 0.55:
            email = mess.PLACEHOLDER_EMAILS[0] if rng.random() < 0.6 else mess.PLACEHOLDER_EMAILS[1]
        else:
            email = ""
        phone = mess.given_phone(w, p, SOURCE, staff=True) if channel == "phone" or rng.random() < 0.5 else ""
    closed, score = "", ""
    if rng.random() < 0.85:
        end = t + rng.randint(1800, 5 * 86400)
        if end < w.window:
            closed = w.ts_default(end)
            if rng.random() < 0.6:
                score = str(rng.choices((1, 2, 3, 4, 5), (10, 10, 20, 30, 30))[0])
    opened = w.ts_offset(t, p.tz) if rng.random() < 0.2 else w.ts_default(t)
    w.emit(SOURCE, p, t, (w.ids.dec("ticket", "TK", 6, 4), opened, closed, email, phone, channel, category, score))
