"""app_events: sessions in the mobile app, one row per event (open, push open, screen, product, cart, purchase).

Identifiers: device_id (upper-case on iOS) and the user_id once logged in on that device. Times are the
device's local time with its UTC offset (10% in UTC with 'Z'). Buying in the app needs an account, so a
guest is signed up at checkout; a purchase ends in an order (`orders.place`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.sources import crm_contacts, orders

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "app_events"
COLUMNS = ("event_id", "occurred_at", "device_id", "user_id", "event_type", "screen_name", "campaign",
           "os")  # the order of the row tuples below


def session(w: World, p: Person, t: int, kind: str, channel: str, campaign: str | None) -> None:
    """One app session; device local time with its UTC offset; buying in the app needs an account."""
    rng, W = w.rng, w.window
    dev = _device(w, p)
    device_id, os_ = dev[0], dev[1]
    has_account = p.account_t is not None and p.account_t <= t
    uid = p.user_id if has_account and dev[2] is not None and dev[2] <= t else ""
    rows: list[tuple[int, tuple]] = []
    clock = t

    def hit(event: str, screen: str, camp: str = "") -> bool:
        nonlocal clock
        if clock >= W:
            return False
        stamp = w.ts_offset(clock, p.tz) if rng.random() >= 0.1 else w.ts_z(clock)
        rows.append((clock, (w.ids.hex("app", "a", bits=40), stamp, device_id, uid, event, screen, camp, os_)))
        clock += rng.randint(5, 90)
        return True

    if channel == "push":
        hit("push_open", "home", f"push-{w.date_text(t // 86400)}")
    elif channel == "email":
        hit("app_open", "home", campaign or "")
    else:
        install = "" if dev[3] or rng.random() < 0.7 else rng.choice(("appinstall_facebook", "appinstall_google"))
        hit("app_open", "home", install)
    dev[3] = True
    if has_account and not uid and rng.random() < 0.8:
        uid = p.user_id
        dev[2] = clock
        hit("login", "account")
    views = rng.randint(1, 3) if kind == "buy" else rng.choice((0, 1, 1, 2, 3))
    for _ in range(views):
        hit("screen_view", rng.choice(("home", "search", "category")))
        hit("product_view", "product_detail")
    if kind == "buy" or (views and rng.random() < 0.15):
        hit("add_to_cart", "cart")
    bought = False
    if kind == "buy":
        hit("checkout_start", "checkout")
        if not uid and clock < W:
            if p.account_t is None:
                crm_contacts.sign_up(w, p, clock)
            uid = p.user_id
            dev[2] = clock
            hit("login", "account")
        order_t = clock
        bought = bool(uid) and hit("purchase", "order_confirmation")
    for when, row in rows:
        w.emit(SOURCE, p, when, row, duplicable=True)
    if bought:
        orders.place(w, p, order_t, "app", uid)


def _device(w: World, p: Person) -> list:
    """The phone the session runs on: [device_id, os, time of the first login on it, app opened before]."""
    rng = w.rng
    if not p.devices or (len(p.devices) < 2 and rng.random() < 0.05):
        os_ = "ios" if rng.random() < 0.55 else "android"
        p.devices.append([w.ids.hex("device", bits=64, upper=os_ == "ios"), os_, None, False])
    return p.devices[0] if rng.random() < 0.8 else p.devices[-1]
