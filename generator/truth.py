"""The ground truth, written outside the landing folder: which person each record belongs to, and who they are.

    out/truth/records.csv.gz    source, record_key, person_id: one row per distinct non-empty record key;
                                links: the link evidence the record carries as exported (all its versions), as
                                'kind:value' joined by '|' (email, phone, cookie, device, user, loyalty, contact,
                                order, subscriber; placeholders, another person's order id and an unrendered
                                merge tag are not evidence); gap: why a link the record would carry is not there
                                (order_id_missing, order_id_stale, subscriber_stripped, subscriber_unrendered,
                                placeholder), else empty
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

from generator import mess
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
RECORD_COLUMNS = ("source", "record_key", "person_id", "links", "gap")
# Person records (names, birth dates, addresses): any two of one person count as linkable evidence ('person:'),
# as if fuzzy matching never missed.
PERSON_RECORD_SOURCES = ("orders", "crm_contacts")


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


def record_rows(source: str, items: list[Item], order_person: dict[str, str] | None = None) -> list[tuple]:
    """(source, record key, person id, links, gap) for the distinct non-empty keys among queued items, in their
    order; links and gap gather every version of the record (see the module docstring)."""
    columns = SOURCES[source].all_columns
    key_index = columns.index(SOURCES[source].key)
    found: dict[str, tuple[str, set[str], set[str]]] = {}
    for _, _, pid, row in items:
        key = row[key_index]
        if not key:
            continue
        if key not in found:
            found[key] = (pid, set(), set())
        _, links, gaps = found[key]
        _evidence(source, dict(zip(columns, row, strict=False)), pid, order_person or {}, links, gaps)
    return [(source, key, pid, "|".join(sorted(links)), "|".join(sorted(gaps)))
            for key, (pid, links, gaps) in found.items()]


def _email(value: str) -> str:
    value = (value or "").strip().lower()
    return "" if value in mess.PLACEHOLDER_EMAILS or "@" not in value else value


def _phone(value: str) -> str:
    digits = "".join(c for c in value or "" if c.isdigit())
    digits = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    return "" if len(digits) != 10 or digits in mess.PLACEHOLDER_PHONES else digits


def _url_subscriber(url: str) -> str:
    return (url or "").partition("mc_eid=")[2].partition("&")[0]


def _evidence(source: str, row: dict, pid: str, order_person: dict[str, str], links: set[str], gaps: set[str]) -> None:
    """Add the link evidence of one exported row (and the gaps the mess made) to the record's sets."""
    def add(kind: str, value: str | None) -> None:
        value = (value or "").strip()
        if value:
            links.add(f"{kind}:{value}")

    for column in ("email",):
        if column in row and row[column]:
            if _email(row[column]):
                add("email", _email(row[column]))
            else:
                gaps.add("placeholder")
    if row.get("phone"):
        if _phone(row["phone"]):
            add("phone", _phone(row["phone"]))
        else:
            gaps.add("placeholder")
    add("cookie", row.get("anonymous_id"))
    add("device", row.get("device_id"))
    add("user", row.get("user_id") if source != "crm_contacts" else None)
    add("loyalty", row.get("loyalty_id"))
    if source == "crm_contacts":
        add("contact", row["contact_id"])
        if row.get("account_id") != mess.SHARED_ACCOUNT:
            add("user", row.get("account_id"))
    if source in PERSON_RECORD_SOURCES:
        add("person", pid)
    if source == "orders":
        add("order", row["order_id"])
    if source == "web_events" and row["event_type"] == "purchase":
        oid = row.get("order_id") or ""
        if not oid:
            gaps.add("order_id_missing")
        elif order_person.get(oid) != pid:
            gaps.add("order_id_stale")
        else:
            add("order", oid)
    tokens = [_url_subscriber(row.get(c, "")) for c in ("page_url", "referrer_url", "link_url")]
    if source == "email_events":
        add("subscriber", row.get("subscriber_id"))
    for token in tokens:
        if token == mess.UNRENDERED_SUBSCRIBER:
            gaps.add("subscriber_unrendered")
        elif token:
            add("subscriber", token)
    if (source == "web_events" and row["event_type"] == "page_view" and row.get("utm_medium") == "email"
            and "mc_eid=" not in (row.get("page_url") or "")):
        gaps.add("subscriber_stripped")


class TruthWriter:
    """Adds rows to out/truth/records.csv.gz and out/truth/people.csv.gz as the run goes."""

    def __init__(self, records: Writer, people: Writer) -> None:
        self._records, self._people = records, people
        self.records_written = 0

    def add_people(self, rows: Iterable[tuple]) -> None:
        self._people.writerows(rows)

    def add_records(self, rows: list[tuple]) -> None:
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
