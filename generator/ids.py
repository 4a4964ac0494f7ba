"""Identifiers: every record key and account id the simulated systems hand out.

A per-kind counter goes through a seeded bijection, so ids are unique and reproducible but reveal
neither the order they were issued in nor the person they belong to.
"""

from __future__ import annotations

from random import Random

_HEX_MULT = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F)
_DEC_MULT = (7919, 104729, 1299709, 15485863, 32452843, 49979687, 67867967, 86028121)


class Ids:
    def __init__(self, seed_rng: Random, people: int) -> None:
        self._counters: dict[str, int] = {}
        self._params: dict[str, tuple[int, int, int]] = {}
        self._rng = seed_rng
        self._people = max(people, 1)

    def _next(self, kind: str) -> int:
        c = self._counters.get(kind, 0)
        self._counters[kind] = c + 1
        return c

    def hex(self, kind: str, prefix: str = "", bits: int = 48, upper: bool = False) -> str:
        """The next `kind` id as `bits` bits of hex: cookies, devices, event and transaction ids."""
        if kind not in self._params:
            self._params[kind] = (self._rng.choice(_HEX_MULT) | 1, self._rng.getrandbits(bits), bits)
        mult, key, bits = self._params[kind]
        x = ((self._next(kind) * mult) & ((1 << bits) - 1)) ^ key
        text = f"{x:0{bits // 4}x}"
        return prefix + (text.upper() if upper else text)

    def peek_dec(self, kind: str, prefix: str) -> str:
        """The id the next `dec(kind, ...)` call will return; '' before the kind's first id (nothing is drawn)."""
        if kind not in self._params:
            return ""
        mult, offset, width = self._params[kind]
        return f"{prefix}{(self._counters.get(kind, 0) * mult + offset) % 10**width:0{width}d}"

    def dec(self, kind: str, prefix: str, width: int, per_person: int) -> str:
        """The next `kind` id as digits, wide enough for `per_person` ids per person: users, orders, contacts."""
        if kind not in self._params:
            width = max(width, len(str(self._people * per_person)))
            self._params[kind] = (self._rng.choice(_DEC_MULT), self._rng.randrange(10**width), width)
        mult, offset, width = self._params[kind]
        c = self._next(kind)
        if c >= 10**width:
            raise RuntimeError(f"identifier space for {kind} exhausted; raise per_person")
        return f"{prefix}{(c * mult + offset) % 10**width:0{width}d}"
