"""reviews: product reviews after a delivered order, one row per review, on four platforms.

The website and Trustpilot know the reviewer's email, the website and the app store their user_id, and
Google reviews carry neither (and only a date): the identifiers decide how far a review can be linked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import email_of

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "reviews"
COLUMNS = ("review_id", "posted_at", "email", "user_id", "platform", "rating",
           "product_id")  # the order of the row tuples below


def post(w: World, p: Person, t: int, sku: str, uid: str) -> None:
    """A review of product `sku` at time t by a buyer who ordered it (as user `uid`, or as a guest)."""
    rng = w.rng
    if t >= w.window:
        return
    platform = rng.choices(("website", "app_store", "google", "trustpilot"), (45, 15, 10, 30))[0]
    if platform == "app_store" and not p.devices:
        platform = "website"
    email = mess.typed_email(w, email_of(w, p, t)) if platform in ("website", "trustpilot") else ""
    user = (uid or p.user_id) if platform in ("website", "app_store") and p.user_id else ""
    stamp = w.ts_default(t) if platform != "google" else w.date_text(t // 86400)
    rating = str(rng.choices((1, 2, 3, 4, 5), (5, 7, 13, 30, 45))[0])
    w.emit(SOURCE, p, t, (w.ids.dec("review", "RV", 6, 4), stamp, email, user, platform, rating, sku))
