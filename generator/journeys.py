"""Journeys: what one person does over the window, from first visit to purchase, newsletter, store and support.

Awareness: the first visit comes from an ad (paid search, paid social, display), organic search, a referral
or directly. Consideration: later visits (direct, organic, ads, app push), product views, searches, carts,
app screens, newsletter opens and clicks. Purchase: web and app orders, store purchases. Retention: repeat
orders, weekly newsletters, unsubscribes. Advocacy: reviews after delivery; support tickets. About 60% of
people never buy. `simulate` decides the plan and hands each step to the source that records it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import CITIES, address, email_of, unique_email
from generator.sources import app_events, crm_contacts, email_events, pos_transactions, support_tickets, web_events

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

_ACQUISITION = (  # channel of the first visit, weight
    ("paid_search", 22), ("paid_social", 18), ("display", 8), ("organic", 22), ("referral", 8), ("direct", 22),
)
_RETURNING = (("direct", 35), ("organic", 20), ("paid_search", 15), ("paid_social", 10), ("display", 8),
              ("referral", 4), ("push", 8))


def simulate(w: World, p: Person) -> None:
    """The person's traits, their planned visits in time order, then what follows from them."""
    rng, r, W = w.rng, w.rates, w.window
    online = rng.random() < 0.28
    store = rng.random() < (0.35 if online else 0.18)
    store_only = store and not online and rng.random() < 0.6
    has_app = not store_only and rng.random() < 0.22
    subscribes = rng.random() < (0.45 if online else 0.25)
    intends_account = (online and rng.random() >= r.guest_checkout) or (
        rng.random() < (0.5 if has_app else 0.35 if subscribes else 0.1))
    p.customer = online or store
    p.intends_account = intends_account
    p.subscribes = subscribes
    first = w.at(rng.randrange(max(1, int(w.days * 0.75))))

    if rng.random() < r.crm_address_move:
        p.move_t = first + rng.randrange(max(1, W - first))
        p.new_addr = address(w, rng.randrange(len(CITIES)))
        p.crm_events.append((p.move_t, "move", None))
    if rng.random() < r.crm_new_email:
        p.email_change_t = first + rng.randrange(max(1, W - first))
        p.new_email = unique_email(w, p.first, p.last)
        p.crm_events.append((p.email_change_t, "email_change", None))

    plan: list[list] = []  # [time, browse | buy | store, channel, joins the loyalty programme]
    if not store_only:
        t = first
        n = 1 + min(int(rng.expovariate(1 / (4.0 if online else 1.5))), 14)
        for i in range(n):
            channel = _pick(w, _ACQUISITION) if i == 0 else _returning(w, has_app)
            plan.append([t, "browse", channel, None])
            t += 600 + int(rng.expovariate(1 / (3.5 * 86400)))
            if t >= W:
                break
        if online:
            k = rng.randrange(min(len(plan), 3))
            plan[k][1] = "buy"
            t = plan[k][0] + 1800
            while rng.random() < 0.35:
                t += 86400 + int(rng.expovariate(1 / (12 * 86400)))
                if t >= W:
                    break
                plan.append([t, "buy", _returning(w, has_app), None])
        if subscribes and rng.random() < 0.4:
            # newsletter pop-up on the first visit; otherwise the checkbox at sign-up or checkout
            p.sub_t = plan[0][0] + 90
            p.crm_events.append((p.sub_t, "subscribe", mess.typed_email(w, email_of(w, p, p.sub_t))))
    if store:
        t = first if store_only else first + rng.randrange(max(1, W - first))
        member = rng.random() < 0.6
        for i in range(1 + (rng.random() < 0.4) + (rng.random() < 0.2)):
            t = (t // 86400) * 86400 + rng.randint(14 * 3600, 23 * 3600)
            if t >= W:
                break
            plan.append([t, "store", None, member and i == 0])
            t += 86400 * rng.randint(2, 20)
    plan.sort(key=lambda x: x[0])
    for t, kind, channel, joins in plan:
        if kind == "store":
            pos_transactions.store_visit(w, p, t, joins)
        elif has_app and rng.random() < (0.8 if channel in ("direct", "push") else 0.3):
            app_events.session(w, p, t, kind, channel, None)
        else:
            web_events.session(w, p, t, kind, "direct" if channel == "push" else channel, None)
    if subscribes and p.sub_t is None and plan:
        p.sub_t = plan[0][0] + 120
        p.crm_events.append((p.sub_t, "subscribe", mess.typed_email(w, email_of(w, p, p.sub_t))))
    if p.sub_t is not None:
        email_events.newsletters(w, p)
    for t, campaign, link in p.click_sessions:
        if has_app and rng.random() < 0.2:
            app_events.session(w, p, t, "browse", "email", campaign)
        else:
            buys = p.user_id and p.account_t <= t and rng.random() < 0.08
            web_events.session(w, p, t, "buy" if buys else "browse", "email", link)
    if not p.customer and rng.random() < 0.02:
        support_tickets.open_ticket(w, p, first + rng.randrange(max(1, W - first)),
                                    rng.choice(("account", "product", "other")))
    if p.crm_events and rng.random() < r.crm_disconnected:
        p.crm_events.append((first + rng.randrange(max(1, W - first)), "disconnected", None))
    crm_contacts.flush(w, p)


def _pick(w: World, weighted: tuple[tuple[str, int], ...]) -> str:
    return w.rng.choices(weighted, weights=[wt for _, wt in weighted])[0][0]


def _returning(w: World, has_app: bool) -> str:
    """The channel of a later visit; push notifications only reach people with the app."""
    channel = _pick(w, _RETURNING)
    return "direct" if channel == "push" and not has_app else channel
