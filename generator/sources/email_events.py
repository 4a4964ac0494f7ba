"""email_events: what the email service provider logs, one row per sent, delivered, bounce, open, click, unsubscribe.

Weekly newsletters go to subscribers from their subscription on, to the address the list holds (mostly
lower-cased; after an email change the ESP follows, mostly). Newsletter links carry the ESP's subscriber
token (mc_eid=...), and the web or app visit that a click starts lands on exactly that URL: the only bridge
from email-only people to their cookies. Newsletter events also carry that token as subscriber_id (optional
column: the ESP's id of the list member); a few links carry the unrendered merge tag instead
(mess.subscriber_unrendered). Orders send transactional emails (`orders.place` calls `send`), without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import email_of
from generator.shop import SHOP

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "email_events"
COLUMNS = ("event_id", "occurred_at", "email", "campaign_id", "event_type",
           "link_url", "subscriber_id")  # the order of the row tuples below

_CATEGORIES = ("running", "hiking", "outerwear", "kids", "accessories", "sale", "new-arrivals")


def send(w: World, p: Person, t: int, email: str, campaign: str, event: str, link: str = "",
         subscriber: str = "") -> None:
    """One ESP event about `email`, if it happens inside the window."""
    if t < w.window:
        w.emit(SOURCE, p, t, (w.ids.hex("email", "e", bits=40), w.ts_default(t), email, campaign, event, link,
                              subscriber), duplicable=True)


def newsletters(w: World, p: Person) -> None:
    """Weekly newsletters from the subscription on: sends, opens, clicks (which start visits), unsubscribes."""
    rng, r, W = w.rng, w.rates, w.window
    listed = email_of(w, p, p.sub_t)
    listed = listed.lower() if rng.random() < 0.8 else mess.typed_email(w, listed)
    token = w.ids.hex("subscriber", bits=40)  # the ESP's subscriber id, appended to every link
    for when, campaign in w.shop.newsletters:
        if when < p.sub_t or rng.random() > 0.7:
            continue
        if p.email_change_t is not None and when >= p.email_change_t and rng.random() < 0.7:
            listed = p.new_email
        sent = when + rng.randrange(1800)
        send(w, p, sent, listed, campaign, "sent", subscriber=token)
        if rng.random() < 0.02:
            send(w, p, sent + rng.randint(5, 600), listed, campaign, "bounce", subscriber=token)
            continue
        if rng.random() < 0.5:
            send(w, p, sent + rng.randint(2, 60), listed, campaign, "delivered", subscriber=token)
        if rng.random() >= 0.35:
            continue
        opened = sent + 60 + int(rng.expovariate(1 / (5 * 3600)))
        if opened >= W:
            continue
        send(w, p, opened, listed, campaign, "open", subscriber=token)
        if rng.random() < 0.4:
            clicked = opened + rng.randint(5, 300)
            in_link = mess.UNRENDERED_SUBSCRIBER if w.links_rng.random() < r.subscriber_unrendered else token
            link = (f"{SHOP}/collections/{rng.choice(_CATEGORIES)}?utm_source=newsletter&utm_medium=email"
                    f"&utm_campaign={campaign}&mc_eid={in_link}")
            send(w, p, clicked, listed, campaign, "click", link, subscriber=token)
            if clicked + 3 < W:
                p.click_sessions.append((clicked + 3, campaign, link))
        elif rng.random() < r.unsubscribe:
            gone = opened + rng.randint(10, 600)
            if gone < W:
                send(w, p, gone, listed, campaign, "unsubscribe", subscriber=token)
                p.crm_events.append((gone, "unsubscribe", None))
                break
