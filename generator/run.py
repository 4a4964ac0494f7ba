"""The run: simulate people chunk by chunk, write each chunk's rows and truth, then re-deliver some files.

People are simulated in chunks of CHUNK_PEOPLE with a random stream per chunk; with more people than that,
every chunk appends to the same day files, so a day stays one file at any scale (Parquet, which cannot be
appended to, is written once at the end). `out/landing` and `out/truth` are replaced.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from generator import mess, truth
from generator.journeys import simulate
from generator.people import make_people
from generator.sources import SOURCE_NAMES, check_contract
from generator.world import World
from generator.writers import Landing, appendable
from rules.contract import SOURCES

CHUNK_PEOPLE = 20_000


@dataclass
class GenerateStats:
    """What a generate() call wrote."""

    out: Path
    people: int
    days: int
    seed: int
    start: date
    households: int = 0
    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    truth_records: int = 0
    redelivered: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        per_source = "; ".join(f"{s} {self.rows.get(s, 0):,} rows in {self.files.get(s, 0)} files" for s in SOURCES)
        end = self.start + timedelta(days=self.days - 1)
        return (
            f"Generated {self.people:,} people ({self.households:,} multi-person households) active "
            f"{self.start} to {end} (seed {self.seed}) into {self.out}: {per_source}. "
            f"{sum(self.rows.values()):,} rows in {sum(self.files.values())} files in total, "
            f"{len(self.redelivered)} of them re-delivered copies; truth holds {self.truth_records:,} record keys."
        )


def generate(out: Path, people: int, days: int, seed: int, start: date = date(2026, 9, 1),
             rates: mess.MessRates | None = None) -> GenerateStats:
    """Write `people` simulated customers' exports to out/landing and the truth to out/truth (deterministic).

    Existing landing and truth folders under `out` are replaced, so reruns give byte-identical output.
    """
    if people < 1 or days < 2:
        raise ValueError(f"need at least 1 person and 2 days (got people={people}, days={days})")
    check_contract()
    out = Path(out)
    for sub in ("landing", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    rates = rates or mess.MessRates()
    stats = GenerateStats(out=out, people=people, days=days, seed=seed, start=start)
    w = World(people, days, seed, start, rates)
    landing = Landing(out, w.date_text)
    with truth.truth_writer(out / "truth") as records:

        def write(source: str) -> None:
            items = w.take(source)
            landing.write(source, items)
            records.add_records(truth.record_rows(source, items, w.order_person))

        for chunk, first in enumerate(range(0, people, CHUNK_PEOPLE)):
            w.start_chunk(chunk)
            crowd = make_people(w, first, min(CHUNK_PEOPLE, people - first))
            stats.households += sum(1 for size in Counter(p.hh for p in crowd).values() if size > 1)
            for p in crowd:
                simulate(w, p)
            records.add_people(truth.person_row(w, p) for p in crowd)
            for source in SOURCE_NAMES:
                if appendable(source):
                    write(source)
        for source in SOURCE_NAMES:
            if not appendable(source):
                write(source)
    stats.truth_records = records.records_written
    stats.redelivered = mess.redeliver(landing, rates, seed, days)
    for file in landing.files.values():
        stats.files[file.source] = stats.files.get(file.source, 0) + 1
        stats.rows[file.source] = stats.rows.get(file.source, 0) + file.rows
    return stats
