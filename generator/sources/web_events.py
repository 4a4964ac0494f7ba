"""web_events: visits to the website, one row per hit (page, search, product, cart, login, purchase).

Identifiers: an anonymous_id cookie (a new one on a new device, more often for account holders) and the
user_id once logged in; login, signup and purchase events carry both. Guest buyers often sign up on the
order confirmation page. The first hit of a visit carries where it came from: an ad click tagged
utm_source/utm_medium (google|bing/cpc, facebook|instagram|tiktok/paid_social, criteo|gdn/display or
banner, newsletter/email), a search engine as referrer (organic, no utm), a referring site, or nothing
(direct); the landing page_url keeps its query string. A 'buy' visit ends in an order (`orders.place`).
The purchase event carries the order id (optional column order_id; mostly, see mess.order_id_*), and a
newsletter landing the ESP's subscriber parameter mc_eid (unless stripped on the way, mess.subscriber_*).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.shop import SHOP
from generator.sources import crm_contacts, orders

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "web_events"
COLUMNS = ("event_id", "occurred_at", "anonymous_id", "user_id", "event_type", "page_url", "referrer_url",
           "utm_source", "utm_medium", "utm_campaign", "device_type", "order_id")  # the order of the row tuples below

_REFERRAL_SITES = (
    "https://www.reddit.com/r/running/", "https://www.runnersworld.example/best-shoes-2026",
    "https://blog.gearjunkie.example/fall-picks", "https://www.pinterest.com/", "https://news.ycombinator.com/",
)
_SEARCH_TERMS = ("rain jacket", "trail shoes", "socks", "gift card", "backpack 30l", "fleece, women", 'shoes "wide"')


def session(w: World, p: Person, t: int, kind: str, channel: str, link: str | None) -> None:
    """One visit on the website; a 'buy' visit ends with a purchase event and an order."""
    rng, W = w.rng, w.window
    cookie = _cookie(w, p)
    anon, device = cookie[0], cookie[1]
    has_account = p.account_t is not None and p.account_t <= t
    remembered = has_account and cookie[2] is not None and cookie[2] <= t and rng.random() < 0.85
    uid = p.user_id if remembered else ""
    src, med, camp, ref, url = _landing(w, channel, link)
    rows: list[tuple[int, tuple]] = []
    clock = t

    def hit(event: str, page: str, referrer: str | None = None, utm: tuple = ("", "", ""), order: str = "") -> bool:
        nonlocal clock, url
        if clock >= W:
            return False
        row = (w.ids.hex("web", "w", bits=40), w.ts_default(clock), anon, uid, event, page,
               url if referrer is None else referrer, *utm, device, order)
        rows.append((clock, row))
        url = page
        clock += rng.randint(8, 150)
        return True

    hit("page_view", url, ref, (src, med, camp))
    if rng.random() < 0.15:
        hit("search", f"{SHOP}/search?q={rng.choice(_SEARCH_TERMS).replace(' ', '+')}")
    views = rng.randint(1, 4) if kind == "buy" else rng.choice((0, 1, 1, 2, 3, 4))
    for _ in range(views):
        hit("product_view", f"{SHOP}/products/{w.shop.product(rng)[0].lower()}")
    if has_account and not uid and kind == "browse" and rng.random() < 0.5:
        uid = p.user_id
        cookie[2] = cookie[2] if cookie[2] is not None else clock
        hit("login", f"{SHOP}/account/login")
    elif p.account_t is None and kind == "browse" and p.intends_account and rng.random() < 0.25:
        crm_contacts.sign_up(w, p, clock)
        uid, cookie[2] = p.user_id, clock
        hit("signup", f"{SHOP}/account/register")
    if kind == "buy" or (views and rng.random() < 0.15):
        hit("add_to_cart", f"{SHOP}/cart")
    if kind == "buy" or (views and rng.random() < 0.04):
        hit("checkout_start", f"{SHOP}/checkout")
    bought = False
    if kind == "buy":
        if not uid and clock < W:
            if p.account_t is not None and p.account_t <= clock and rng.random() < 0.9:
                uid = p.user_id
                cookie[2] = cookie[2] if cookie[2] is not None else clock
                hit("login", f"{SHOP}/account/login?next=/checkout")
            elif p.account_t is None and p.intends_account:
                crm_contacts.sign_up(w, p, clock)
                uid, cookie[2] = p.user_id, clock
                hit("signup", f"{SHOP}/account/register?next=/checkout")
        order_t = clock
        bought = hit("purchase", f"{SHOP}/checkout/confirmation", order=_tracked_order_id(w))
        if bought and not uid and p.account_t is None and rng.random() < 0.4:
            # "create an account to track your order" on the confirmation page
            crm_contacts.sign_up(w, p, clock)
            uid, cookie[2] = p.user_id, clock
            hit("signup", f"{SHOP}/account/register?from=order", f"{SHOP}/checkout/confirmation")
    for when, row in rows:
        w.emit(SOURCE, p, when, row, duplicable=True)
    if bought:
        w.last_web_order = orders.place(w, p, order_t, "web", uid)


def _tracked_order_id(w: World) -> str:
    """The order id the purchase event reports: the order about to be placed, mostly (see mess.order_id_*)."""
    links, r = w.links_rng, w.rates
    if links.random() >= r.order_id_on_purchase:
        return ""
    if w.last_web_order and links.random() < r.order_id_stale:
        return w.last_web_order
    return w.ids.peek_dec("order", "O")


def _cookie(w: World, p: Person) -> list:
    """The browser the visit comes from: [anonymous_id, device type, time the site first remembered the login]."""
    rng = w.rng
    if not p.cookies or (len(p.cookies) < 5 and rng.random() < (0.2 if p.intends_account else 0.06)):
        device = rng.choices(("desktop", "mobile", "tablet"), weights=(45, 45, 10))[0]
        p.cookies.append([w.ids.hex("cookie", bits=64), device, None])
    elif len(p.cookies) == 1 or rng.random() < 0.6:
        return p.cookies[0]
    return p.cookies[-1] if rng.random() < 0.5 else rng.choice(p.cookies)


def _landing(w: World, channel: str, link: str | None) -> tuple[str, str, str, str, str]:
    """utm_source, utm_medium, utm_campaign, referrer and landing page (with its query string) of a visit."""
    src, med, camp, ref, url = _landing_parts(w, channel, link)
    if src and "?" not in url:
        url = f"{url}?utm_source={src}&utm_medium={med}&utm_campaign={camp}"
    return src, med, camp, ref, url


def _landing_parts(w: World, channel: str, link: str | None) -> tuple[str, str, str, str, str]:
    rng = w.rng
    sku = w.shop.product(rng)[0].lower()
    product = f"{SHOP}/products/{sku}"
    if channel == "paid_search":
        src = "google" if rng.random() < 0.8 else "bing"
        camp = rng.choice(("brand_search", "generic_outdoor", "fall_sale_2026"))
        landing = rng.choice((product, f"{SHOP}/", f"{SHOP}/collections/sale"))
        return src, "cpc", camp, f"https://www.{src}.com/", landing
    if channel == "paid_social":
        src = rng.choice(("facebook", "facebook", "instagram", "tiktok"))
        ref = {"facebook": "https://l.facebook.com/", "instagram": "https://l.instagram.com/"}.get(src, "")
        camp = rng.choice(("fall_collection", "retargeting_cart", "lookalike_buyers"))
        return src, "paid_social", camp, ref, product
    if channel == "display":
        src = rng.choice(("criteo", "gdn"))
        medium = "display" if rng.random() < 0.8 else "banner"
        return src, medium, rng.choice(("retargeting", "prospecting")), "", product
    if channel == "email" and link:
        campaign = link.partition("utm_campaign=")[2].partition("&")[0]
        if w.links_rng.random() < w.rates.subscriber_stripped:
            link = link.partition("&mc_eid=")[0]  # link protection or a redirect dropped the tracking parameter
        return "newsletter", "email", campaign, "", link
    if channel == "organic":
        ref = rng.choice(("https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
                          "https://duckduckgo.com/"))
        return "", "", "", ref, rng.choice((f"{SHOP}/", product, f"{SHOP}/blog/how-to-layer-for-hiking"))
    if channel == "referral":
        return "", "", "", rng.choice(_REFERRAL_SITES), product
    return "", "", "", "", rng.choice((f"{SHOP}/", f"{SHOP}/", product))
