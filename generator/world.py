"""The shared state of one simulated run: the clock, the random stream, the shop and the queue of rows.

Time is an integer: seconds since `start` 00:00 UTC, and activity falls in [0, window). A row made at time t
goes to the export that follows it, dated t // 86400 + 1 (an export dated D holds day D - 1), unless the
mess (`mess.py`) corrupts it, makes it late or sends it twice. Each chunk of people has its own random
stream, so a chunk's output depends only on the seed and the chunk number.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from itertools import accumulate
from random import Random
from typing import TYPE_CHECKING

from generator import mess
from generator.ids import Ids
from generator.shop import Shop

if TYPE_CHECKING:
    from generator.people import Person

_HOURS_UTC = (3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 10, 10, 10, 9, 7, 5)  # weights per UTC hour

# A queued row: (export day, time it happened, person id, row values in the source's column order).
Item = tuple[int, int, str, tuple]


class World:
    def __init__(self, people: int, days: int, seed: int, start: date, rates: mess.MessRates) -> None:
        self.days, self.seed, self.start, self.rates = days, seed, start, rates
        self.window = days * 86400
        self.ids = Ids(Random(f"ids:{seed}"), people)
        self._dates = [(start + timedelta(days=d)).isoformat() for d in range(-2, days + 3)]
        self.shop = Shop(seed, days, self.date_text)
        self.used_emails: set[str] = set()
        self.used_phones: set[str] = set()
        self._hour_cum = list(accumulate(_HOURS_UTC))
        self._invalid = mess.InvalidRows(rates)
        self._queues: dict[str, list[Item]] = defaultdict(list)
        self.rng = Random(f"journey-generator:{seed}:0")
        # The optional link columns draw from their own stream, so they leave every other value as it was.
        self.links_rng = Random(f"journey-generator-links:{seed}:0")
        # Typing errors, twins and namesakes too (mess.name_error ...): at rate 0 the other values stay as they were.
        self.noise_rng = Random(f"journey-generator-noise:{seed}:0")
        self.last_web_order = ""  # the id a cached confirmation page shows (mess: order_id_stale)
        self.order_person: dict[str, str] = {}  # order id -> person id, for the truth's link evidence

    def start_chunk(self, chunk: int) -> None:
        self.rng = Random(f"journey-generator:{self.seed}:{chunk}")
        self.links_rng = Random(f"journey-generator-links:{self.seed}:{chunk}")
        self.noise_rng = Random(f"journey-generator-noise:{self.seed}:{chunk}")

    # ------------------------------------------------------------------------------------------ clock
    def date_text(self, day: int) -> str:
        """ISO date of day `day` (0 = start), for days -2 .. days + 2."""
        return self._dates[day + 2]

    def _hms(self, t: int) -> tuple[str, int, int, int]:
        d, s = divmod(t, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return self.date_text(d), h, m, s

    def ts_z(self, t: int) -> str:
        d, h, m, s = self._hms(t)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}Z"

    def ts_naive(self, t: int, sep: str = " ") -> str:
        d, h, m, s = self._hms(t)
        return f"{d}{sep}{h:02d}:{m:02d}:{s:02d}"

    def ts_offset(self, t: int, hours: int) -> str:
        d, h, m, s = self._hms(t + hours * 3600)
        sign = "-" if hours < 0 else "+"
        return f"{d}T{h:02d}:{m:02d}:{s:02d}{sign}{abs(hours):02d}:00"

    def ts_millis(self, t: int) -> str:
        d, h, m, s = self._hms(t)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}.{self.rng.randrange(1000):03d}Z"

    def ts_default(self, t: int) -> str:
        """Mostly ISO-8601 with 'Z', sometimes without an offset (read as UTC)."""
        if self.rng.random() < self.rates.naive_timestamp:
            return self.ts_naive(t, "T")
        return self.ts_z(t)

    def at(self, day: int) -> int:
        """A time of day on `day` following a US-shaped activity curve."""
        rng = self.rng
        hour = rng.choices(range(24), cum_weights=self._hour_cum)[0]
        return day * 86400 + hour * 3600 + rng.randrange(3600)

    # ------------------------------------------------------------------------------------------ rows
    def emit(self, source: str, p: Person, t: int, row: tuple, duplicable: bool = False) -> None:
        """Queue a row of `source` for the export that follows time t, messed up at the configured rates."""
        rng = self.rng
        row = self._invalid.apply(rng, source, row)
        export = mess.export_day(rng, self.rates, t, self.days)
        queue = self._queues[source]
        queue.append((export, t, p.pid, row))
        if duplicable:
            again = mess.duplicate_export_day(rng, self.rates, export, self.days)
            if again is not None:
                queue.append((again, t, p.pid, row))

    def take(self, source: str) -> list[Item]:
        """The rows queued for `source` so far, sorted by export day and time; the queue starts again empty."""
        items = self._queues.pop(source, [])
        items.sort(key=lambda x: (x[0], x[1]))
        return items
