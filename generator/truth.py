"""The ground truth, written outside the landing folder: which person each record belongs to, and who they are.

    out/truth/records.csv.gz    source, record_key, person_id: one row per distinct non-empty record key
    out/truth/people.csv.gz     the clean truth per person (PEOPLE_COLUMNS: names, nicknames, emails, phones,
                                household, birth date, address and move, user/loyalty/contact/cookie/device ids)

`journey evaluate-identity --truth out/truth` scores the warehouse's customers against it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from generator.people import STREET_TYPES, Address, Person
from generator.writers import gzip_text
from rules.contract import SOURCES

if TYPE_CHECKING:
    from _csv import Writer  # the type csv.writer() returns

    from generator.world import Item, World

PEOPLE_COLUMNS = (
    "person_id", "household_id", "first_name", "last_name", "nicknames", "email", "new_email", "email_changed_at",
    "old_email", "phone", "home_phone", "old_phone", "birth_date", "street", "city", "postcode", "country",
    "moved_at", "new_street", "new_city", "new_postcode", "user_id", "loyalty_id", "crm_contact_ids",
    "anonymous_ids", "device_ids", "is_customer", "is_subscriber",
)
RECORD_COLUMNS = ("source", "record_key", "person_id")


def canonical_address(addr: Address | None) -> tuple[str, str, str]:
    """street, city, postcode written the one clean way (full street type, ', Apt' unit)."""
    if addr is None:
        return "", "", ""
    number, street, type_i, unit, city, zipcode, _ = addr
    return f"{number} {street} {STREET_TYPES[type_i][0]}" + (f", Apt {unit}" if unit else ""), city, zipcode


def person_row(w: World, p: Person) -> tuple:
    """One row of people.csv.gz, in PEOPLE_COLUMNS order."""
    street, city, zipcode = canonical_address(p.addr)
    new_street, new_city, new_zip = canonical_address(p.new_addr)
    return (
        p.pid, p.hh, p.first, p.last, "|".join(p.nicks), p.email, p.new_email,
        w.ts_z(p.email_change_t) if p.email_change_t is not None else "", p.old_email,
        f"+1{p.phone}", f"+1{p.landline}" if p.landline else "", f"+1{p.old_phone}" if p.old_phone else "",
        p.birth.isoformat(), street, city, zipcode, "US",
        w.ts_z(p.move_t) if p.move_t is not None else "", new_street, new_city, new_zip,
        p.user_id, p.loyalty_id, "|".join(p.contacts), "|".join(c[0] for c in p.cookies),
        "|".join(d[0] for d in p.devices), "true" if p.customer else "false",
        "true" if p.sub_t is not None else "false",
    )


def record_rows(source: str, items: list[Item]) -> list[tuple[str, str, str]]:
    """(source, record key, person id) for the distinct non-empty keys among queued items, in their order."""
    key_index = SOURCES[source].columns.index(SOURCES[source].key)
    seen: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    for _, _, pid, row in items:
        key = row[key_index]
        if key and key not in seen:
            seen.add(key)
            rows.append((source, key, pid))
    return rows


class TruthWriter:
    """Adds rows to out/truth/records.csv.gz and out/truth/people.csv.gz as the run goes."""

    def __init__(self, records: Writer, people: Writer) -> None:
        self._records, self._people = records, people
        self.records_written = 0

    def add_people(self, rows: Iterable[tuple]) -> None:
        self._people.writerows(rows)

    def add_records(self, rows: list[tuple[str, str, str]]) -> None:
        self._records.writerows(rows)
        self.records_written += len(rows)


@contextmanager
def truth_writer(folder: Path) -> Iterator[TruthWriter]:
    """Open both truth files (gzip, fixed header), write their header rows, close them when the run ends."""
    folder.mkdir(parents=True, exist_ok=True)
    with (
        open(folder / "records.csv.gz", "wb") as records_raw, gzip_text(records_raw) as records_text,
        open(folder / "people.csv.gz", "wb") as people_raw, gzip_text(people_raw) as people_text,
    ):
        records = csv.writer(records_text, lineterminator="\n")
        people = csv.writer(people_text, lineterminator="\n")
        records.writerow(RECORD_COLUMNS)
        people.writerow(PEOPLE_COLUMNS)
        yield TruthWriter(records, people)
