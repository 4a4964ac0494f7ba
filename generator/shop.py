"""The shop being simulated: its website address, product catalogue, stores and newsletter calendar."""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from generator.people import CITIES

SHOP = "https://shop.example.com"
PRICES = (999, 1499, 1999, 2499, 2999, 3499, 3999, 4999, 5999, 6999, 7999, 8999, 9999, 12999, 14999, 19999, 24999)


class Shop:
    def __init__(self, seed: int, days: int, date_text: Callable[[int], str]) -> None:
        rng = Random(f"journey-generator:{seed}")
        # 400 products (sku, price in cents)
        self.products = [(f"SKU-{i:05d}", rng.choice(PRICES)) for i in range(1, 401)]
        # one store per city, two in every third city
        self.stores = {city[0]: [f"S{100 + 3 * i + k:03d}" for k in range(1 + (i % 3 == 0))]
                       for i, city in enumerate(CITIES)}
        # a weekly newsletter from day 2 on, sent at 15:00 UTC: (send time, campaign id)
        self.newsletters = [(d * 86400 + 15 * 3600, f"nl-{date_text(d)}") for d in range(2, days, 7)]

    def product(self, rng: Random) -> tuple[str, int]:
        return self.products[rng.randrange(len(self.products))]


def money(cents: int) -> str:
    """An amount with two decimals, as every system writes it: 1999 -> '19.99'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
