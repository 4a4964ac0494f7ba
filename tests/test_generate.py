"""The sample-data generator: deterministic, laid out as the loader expects, and messy in every promised way."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import generator.run
from generator import FORMATS, PLACEHOLDER_EMAILS, PLACEHOLDER_PHONES, GenerateStats, MessRates, generate
from rules.contract import SOURCES

PEOPLE, DAYS, SEED, START = 300, 30, 11, date(2026, 9, 1)
SEEDS = Path(__file__).resolve().parents[1] / "seeds"  # the bundled sample, made by `make sample`
EVENT_SOURCES = ("web_events", "app_events", "email_events")


# ------------------------------------------------------------------------------------------------ helpers
def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_file(path: Path) -> tuple[list[str], list[dict]]:
    """Column names in file order and the rows (None for JSON/Parquet nulls) of one landing file."""
    name = path.name
    if name.endswith(".parquet"):
        table = pq.read_table(path)
        return table.schema.names, table.to_pylist()
    with _open_text(path) as f:
        if ".jsonl" in name:
            rows = [json.loads(line) for line in f if line.strip()]
            keys = list(rows[0]) if rows else []
            return keys, rows
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, values, strict=True)) for values in reader]


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "landing").rglob("*") if p.is_file())


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_gz_csv(path: Path) -> list[dict]:
    with _open_text(path) as f:
        return list(csv.DictReader(f))


class Sample:
    """A generated sample, parsed once: rows per source with their file and folder date, and the truth."""

    def __init__(self, root: Path, stats: GenerateStats) -> None:
        self.root, self.stats = root, stats
        self.rows: dict[str, list[tuple[Path, date, dict]]] = defaultdict(list)
        self.headers: dict[Path, list[str]] = {}
        for path in landing_files(root):
            source, folder = path.parts[-3], path.parts[-2]
            header, rows = read_file(path)
            self.headers[path] = header
            day = date.fromisoformat(folder)
            self.rows[source] += [(path, day, row) for row in rows]
        self.truth = {(r["source"], r["record_key"]): r["person_id"]
                      for r in read_gz_csv(root / "truth" / "records.csv.gz")}
        self.truth_rows = read_gz_csv(root / "truth" / "records.csv.gz")
        self.people = {r["person_id"]: r for r in read_gz_csv(root / "truth" / "people.csv.gz")}

    def person_of(self, source: str, row: dict) -> str | None:
        return self.truth.get((source, row[SOURCES[source].key] or ""))

    def keyed(self, source: str):
        """(person, row) for every row with a key."""
        for _, _, row in self.rows[source]:
            person = self.person_of(source, row)
            if person:
                yield person, row


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Sample:
    root = tmp_path_factory.mktemp("sample")
    stats = generate(root, people=PEOPLE, days=DAYS, seed=SEED, start=START)
    return Sample(root, stats)


def _norm_email(value: str | None) -> str:
    return (value or "").strip().lower()


def _digits(value: str | None) -> str:
    d = re.sub(r"\D", "", value or "")
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# ------------------------------------------------------------------------------------------------ determinism
def test_same_arguments_give_identical_bytes(sample: Sample, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, people=PEOPLE, days=DAYS, seed=SEED, start=START)
    assert digest(again) == digest(sample.root)


def test_the_bundled_sample_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    """seeds/ was written by `make sample`; any change to what the generator writes shows up here.
    If the change is intended, run `make sample` and commit the new seeds/ with it."""
    generate(tmp_path, people=2000, days=60, seed=7)  # the arguments of `make sample`
    expected, actual = digest(SEEDS), digest(tmp_path)
    assert expected, f"no bundled sample under {SEEDS}"
    assert sorted(actual) == sorted(expected), "files differ: " + str(set(actual) ^ set(expected))
    changed = sorted(name for name in expected if actual[name] != expected[name])
    assert not changed, f"{len(changed)} files differ from seeds/, e.g. {changed[:3]}"


def test_rerun_into_the_same_folder_replaces_rather_than_appends(tmp_path: Path) -> None:
    generate(tmp_path, people=40, days=5, seed=3)
    first = digest(tmp_path)
    generate(tmp_path, people=40, days=5, seed=3)
    assert digest(tmp_path) == first


def test_another_seed_gives_other_data(sample: Sample, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(other, people=PEOPLE, days=DAYS, seed=SEED + 1, start=START)
    mine, theirs = digest(sample.root), digest(other)
    assert mine["truth/records.csv.gz"] != theirs["truth/records.csv.gz"]


# ------------------------------------------------------------------------------------------------ layout
def test_layout_is_source_folder_date_file(sample: Sample) -> None:
    files = landing_files(sample.root)
    assert files
    first, last = START + timedelta(days=1), START + timedelta(days=DAYS)
    seen = set()
    for path in files:
        rel = path.relative_to(sample.root / "landing")
        assert len(rel.parts) == 3, rel
        source, folder, name = rel.parts
        assert source in SOURCES, rel
        assert first <= date.fromisoformat(folder) <= last, rel
        assert name.startswith(f"{source}_") and name.endswith("." + FORMATS[source]), rel
        seen.add(source)
    assert seen == set(SOURCES)
    assert {p.name for p in (sample.root / "truth").iterdir()} == {"records.csv.gz", "people.csv.gz"}


def test_headers_and_keys_follow_the_contract_order(sample: Sample) -> None:
    """Required columns, then the optional ones (the generator writes every column it knows)."""
    for path, header in sample.headers.items():
        source = path.parts[-3]
        assert tuple(header) == SOURCES[source].all_columns, path
    for path in landing_files(sample.root):
        source = path.parts[-3]
        if ".jsonl" in path.name:
            with _open_text(path) as f:
                for line in f:
                    assert tuple(json.loads(line)) == SOURCES[source].all_columns, path
        if path.name.endswith(".parquet"):
            schema = pq.read_schema(path)
            assert all(str(t) == "string" for t in schema.types), path


def test_every_format_of_the_contract_is_used(sample: Sample) -> None:
    suffixes = {"." + p.name.split(".", 1)[1] for p in landing_files(sample.root)}
    assert suffixes == {".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet"}
    for path in landing_files(sample.root):
        head = path.read_bytes()[:4]
        if path.name.endswith(".gz"):
            assert head[:2] == b"\x1f\x8b", path
        elif path.name.endswith(".parquet"):
            assert head == b"PAR1", path
        else:
            assert head.decode("ascii").isprintable(), path  # plain text, starting with the header or a JSON object
    crm = next(p for p in landing_files(sample.root) if p.parts[-3] == "crm_contacts")
    assert b"\r\n" in crm.read_bytes()  # the CRM tool writes CRLF line ends


def test_values_are_text(sample: Sample) -> None:
    for source, items in sample.rows.items():
        for _, _, row in items:
            assert all(v is None or isinstance(v, str) for v in row.values()), (source, row)


def test_stats_count_what_is_on_disk(sample: Sample) -> None:
    stats = sample.stats
    for source in SOURCES:
        assert stats.rows[source] == len(sample.rows[source]), source
        assert stats.files[source] == sum(1 for p in landing_files(sample.root) if p.parts[-3] == source)
    assert stats.truth_records == len(sample.truth_rows)
    text = str(stats)
    assert f"{PEOPLE:,} people" in text and all(s in text for s in SOURCES)


# ------------------------------------------------------------------------------------------------ truth
def test_truth_covers_every_keyed_record_exactly_once(sample: Sample) -> None:
    keys = {(source, row[SOURCES[source].key]) for source, items in sample.rows.items()
            for _, _, row in items if row[SOURCES[source].key]}
    pairs = [(r["source"], r["record_key"]) for r in sample.truth_rows]
    assert len(pairs) == len(set(pairs)), "a record key appears twice in the truth"
    assert set(pairs) == keys
    assert set(sample.truth.values()) <= set(sample.people)
    assert all(re.fullmatch(r"P\d{6}", p) for p in sample.people)
    assert len(sample.people) == PEOPLE
    # every person leaves a keyed trace, unless their only record lost its key to an invalid row
    assert len(set(sample.truth.values())) >= 0.99 * PEOPLE


def test_activity_stays_in_the_window(sample: Sample) -> None:
    lo = datetime.combine(START, datetime.min.time(), UTC)
    hi = lo + timedelta(days=DAYS)
    parsed = bad = 0
    for source, items in sample.rows.items():
        column = SOURCES[source].timestamp
        for _, folder, row in items:
            text = row[column]
            if text == "not-a-date":
                bad += 1
                continue
            when = _parse_ts(text)
            assert lo <= when < hi, (source, text)
            assert when.date() < folder, (source, text, folder)  # exported after it happened
            parsed += 1
    assert bad and bad < parsed * 0.01


def test_timestamps_mix_z_offsets_and_naive(sample: Sample) -> None:
    texts = [row[SOURCES[s].timestamp] for s, items in sample.rows.items() for _, _, row in items]
    assert any(t.endswith("Z") for t in texts)
    assert any(re.search(r"[+-]\d\d:\d\d$", t) for t in texts)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", t) for t in texts)
    z_share = sum(t.endswith("Z") for t in texts) / len(texts)
    assert z_share > 0.5


def test_money_has_two_decimals_mostly_usd(sample: Sample) -> None:
    amounts = [(row["total_amount"], row["currency"]) for s in ("orders", "pos_transactions")
               for _, _, row in sample.rows[s]]
    assert all(re.fullmatch(r"-?\d+\.\d\d", a) for a, _ in amounts)
    currencies = Counter(c for _, c in amounts)
    assert currencies["USD"] / len(amounts) > 0.9 and len(currencies) > 1


# ------------------------------------------------------------------------------------------------ journeys
def test_journeys_cover_channels_and_stages(sample: Sample) -> None:
    landings = Counter((r["utm_source"], r["utm_medium"]) for _, _, r in sample.rows["web_events"]
                       if r["event_type"] == "page_view")
    for pair in (("google", "cpc"), ("facebook", "paid_social"), ("newsletter", "email")):
        assert landings[pair], pair
    assert any(m in ("display", "banner") for _, m in landings)
    organic = [r for _, _, r in sample.rows["web_events"]
               if r["referrer_url"].startswith("https://www.google.com") and not r["utm_source"]]
    assert organic
    types = {s: Counter(r["event_type"] for _, _, r in sample.rows[s]) for s in EVENT_SOURCES}
    for event in ("product_view", "add_to_cart", "purchase", "login", "signup"):
        assert types["web_events"][event], event
    assert types["email_events"]["open"] and types["email_events"]["click"] and types["email_events"]["unsubscribe"]
    buyers = {p for p, _ in sample.keyed("orders")} | {p for p, _ in sample.keyed("pos_transactions")}
    assert 0.2 * PEOPLE < len(buyers) < 0.7 * PEOPLE, "many people never convert"
    both = {p for p, _ in sample.keyed("orders")} & {p for p, _ in sample.keyed("pos_transactions")}
    assert both, "some people buy online and in store"
    reviews = list(sample.keyed("reviews"))
    assert reviews
    assert _reviews_without_an_earlier_delivery(reviews, list(sample.keyed("orders"))) == []
    assert Counter(r["sales_channel"] for _, _, r in sample.rows["orders"]).keys() >= {"web", "app"}


def _reviews_without_an_earlier_delivery(reviews: list[tuple[str, dict]],
                                        orders: list[tuple[str, dict]]) -> list[dict]:
    """Reviews (person, row) whose person has no order delivered before the review was posted. A delivered row
    whose time was corrupted ('not-a-date', an invalid row on purpose) counts as delivered at an unknown time."""
    earliest: dict[str, datetime] = {}
    unknown_time: set[str] = set()
    for person, row in orders:
        if row["status"] != "delivered":
            continue
        if row["order_updated_at"] == "not-a-date":
            unknown_time.add(person)
            continue
        when = _parse_ts(row["order_updated_at"])
        earliest[person] = min(when, earliest.get(person, when))
    return [row for person, row in reviews
            if row["posted_at"] != "not-a-date" and person not in unknown_time
            and not (person in earliest and earliest[person] < _parse_ts(row["posted_at"]))]


def test_the_review_check_catches_reviews_without_a_delivery() -> None:
    """The check above fails when the property breaks: a review by someone who never ordered, or before delivery."""
    orders = [("P1", {"status": "shipped", "order_updated_at": "2026-09-03T10:00:00.000Z"}),
              ("P1", {"status": "delivered", "order_updated_at": "2026-09-05T10:00:00.000Z"}),
              ("P2", {"status": "paid", "order_updated_at": "2026-09-03T10:00:00.000Z"})]
    after, before = {"posted_at": "2026-09-06T08:00:00Z"}, {"posted_at": "2026-09-05 09:00:00"}
    google = {"posted_at": "2026-09-06"}  # a date only
    assert _reviews_without_an_earlier_delivery([("P1", after), ("P1", google)], orders) == []
    assert _reviews_without_an_earlier_delivery([("P1", before)], orders) == [before]
    assert _reviews_without_an_earlier_delivery([("P2", after)], orders) == [after]  # never delivered
    assert _reviews_without_an_earlier_delivery([("P3", after)], orders) == [after]  # never ordered


def test_logins_bridge_cookies_and_accounts(sample: Sample) -> None:
    cookies_per_person: dict[str, set[str]] = defaultdict(set)
    for person, row in sample.keyed("web_events"):
        cookies_per_person[person].add(row["anonymous_id"])
    assert any(len(c) >= 2 for c in cookies_per_person.values()), "several cookies per person"
    bridged = [r for _, _, r in sample.rows["web_events"]
               if r["event_type"] in ("login", "signup") and r["user_id"] and r["anonymous_id"]]
    assert bridged
    guests = [r for _, _, r in sample.rows["orders"] if r["sales_channel"] == "web" and not r["user_id"]]
    assert guests, "guest checkout leaves user_id empty"


# ------------------------------------------------------------------------------------------------ identity mess
def test_placeholders_are_shared_by_many_people(sample: Sample) -> None:
    by_email: dict[str, set[str]] = defaultdict(set)
    by_phone: dict[str, set[str]] = defaultdict(set)
    for source in ("orders", "crm_contacts", "support_tickets"):
        for person, row in sample.keyed(source):
            by_email[_norm_email(row["email"])].add(person)
    for source in ("crm_contacts", "support_tickets", "pos_transactions", "orders"):
        for person, row in sample.keyed(source):
            by_phone[(row["phone"] or "").strip()].add(person)
    assert PLACEHOLDER_EMAILS == ("noemail@example.com", "unknown")
    assert len(by_email.get("noemail@example.com", ())) > 10
    assert len(by_email.get("unknown", ())) >= 2
    assert sum(len(by_phone.get(value, ())) for value in PLACEHOLDER_PHONES) >= 4


def test_email_and_phone_variants(sample: Sample) -> None:
    emails = [row["email"] for s in ("orders", "crm_contacts", "email_events", "reviews", "support_tickets")
              for _, _, row in sample.rows[s] if row["email"]]
    variants = [e for e in emails if e != e.strip().lower() and "@" in e]
    assert any(e != e.strip() for e in variants), "whitespace around emails"
    assert any(e.strip() != e.strip().lower() for e in variants), "mixed-case emails"
    assert 0.02 < len(variants) / len(emails) < 0.2
    patterns = {
        r"\+1 \d{3}-\d{3}-\d{4}", r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\d{10}",
        r"1-\d{3}-\d{3}-\d{4}", r"\+1\d{10}", r"\d{3}-\d{3}-\d{4}",
    }
    phones = [row["phone"] for s in ("orders", "crm_contacts", "support_tickets", "pos_transactions")
              for _, _, row in sample.rows[s] if row["phone"]]
    used = {p for p in patterns if any(re.fullmatch(p, x) for x in phones)}
    assert used == patterns


def test_names_have_nicknames_typos_and_swaps(sample: Sample) -> None:
    nick = typo = swapped = 0
    for source in ("orders", "crm_contacts"):
        for person, row in sample.keyed(source):
            truth = sample.people[person]
            first, last = row["first_name"], row["last_name"]
            if not first:
                continue
            if first in truth["nicknames"].split("|"):
                nick += 1
            elif (first, last) == (truth["last_name"], truth["first_name"]):
                swapped += 1
            elif first.lower() != truth["first_name"].lower() or last.lower() != truth["last_name"].lower():
                typo += 1
    assert nick and typo and swapped


def test_birth_dates_swapped_and_addresses_written_differently(sample: Sample) -> None:
    swapped = 0
    streets: dict[str, set[str]] = defaultdict(set)
    for person, row in sample.keyed("crm_contacts"):
        truth = sample.people[person]
        text = row["birth_date"]
        if text:
            value = (datetime.strptime(text, "%m/%d/%Y") if "/" in text else datetime.fromisoformat(text)).date()
            real = date.fromisoformat(truth["birth_date"])
            if value != real and (value.month, value.day) == (real.day, real.month):
                swapped += 1
            elif value != real:  # a typing error (mess.birth_date_error): one digit of one field
                assert _damerau_levenshtein(value.isoformat(), real.isoformat()) == 1, (text, truth["birth_date"])
    for source in ("orders", "crm_contacts"):
        for person, row in sample.keyed(source):
            if row["street"]:
                streets[person].add(row["street"])
    assert swapped
    variants = [s for s in streets.values() if len(s) > 1]
    assert variants
    flat = [s for group in streets.values() for s in group]
    assert any(" St." in s or " St," in s or s.endswith(" St") for s in flat)
    assert any(" Street" in s for s in flat)


def test_some_crm_contacts_share_no_identifier_with_the_rest(sample: Sample) -> None:
    idents: dict[str, Counter] = defaultdict(Counter)
    for source, items in sample.rows.items():
        for _, _, row in items:
            person = sample.person_of(source, row)
            if not person:
                continue
            for column in ("email", "phone"):
                value = row.get(column)
                if value:
                    key = _norm_email(value) if column == "email" else _digits(value)
                    idents[person][(column, key, row.get("contact_id"))] += 1
    isolated = 0
    for person, row in sample.keyed("crm_contacts"):
        email, phone = _norm_email(row["email"]), _digits(row["phone"])
        if not (email and phone and row["first_name"] and row["birth_date"] and row["street"]):
            continue
        elsewhere = {(c, k) for (c, k, cid) in idents[person] if cid != row["contact_id"]}
        if ("email", email) not in elsewhere and ("phone", phone) not in elsewhere and elsewhere:
            isolated += 1
    assert isolated >= 3


def test_households_share_a_landline(sample: Sample) -> None:
    landlines: dict[str, set[str]] = defaultdict(set)
    for person, truth in sample.people.items():
        if truth["home_phone"]:
            landlines[_digits(truth["home_phone"])].add(person)
    shared = {phone for phone, people in landlines.items() if 2 <= len(people) <= 4}
    assert shared and all(len(p) <= 4 for p in landlines.values())
    used_by: dict[str, set[str]] = defaultdict(set)
    for source in ("orders", "crm_contacts", "support_tickets", "pos_transactions"):
        for person, row in sample.keyed(source):
            if _digits(row["phone"]) in shared:
                used_by[_digits(row["phone"])].add(person)
    assert any(len(p) >= 2 for p in used_by.values()), "a landline appears in records of two household members"


# ------------------------------------------------------------------------------------------------ delivery mess
def test_events_are_duplicated_sometimes_in_the_next_export(sample: Sample) -> None:
    for source in ("web_events", "email_events"):
        seen: dict[str, list[tuple[date, dict]]] = defaultdict(list)
        for _, folder, row in sample.rows[source]:
            if row["event_id"]:
                seen[row["event_id"]].append((folder, row))
        dups = {k: v for k, v in seen.items() if len(v) > 1}
        assert dups, source
        assert all(all(r == v[0][1] for _, r in v) for v in dups.values()), "duplicates carry the same content"
        assert any(len({f for f, _ in v}) > 1 for v in dups.values()), f"{source}: a duplicate in a later export"


def test_a_file_is_delivered_twice(sample: Sample) -> None:
    by_hash: dict[str, list[Path]] = defaultdict(list)
    for path in landing_files(sample.root):
        by_hash[hashlib.sha256(path.read_bytes()).hexdigest()].append(path)
    copies = [paths for paths in by_hash.values() if len(paths) > 1]
    assert copies
    assert any(len({p.parent for p in paths}) > 1 for paths in copies), "one copy in a later folder"
    assert any(len({p.parent for p in paths}) == 1 for paths in copies), "one copy in the same folder"
    assert len(sample.stats.redelivered) == sum(len(p) - 1 for p in copies)


def test_a_file_is_redelivered_into_a_day_without_exports_of_its_source(tmp_path: Path) -> None:
    # with one person over two days, crm_contacts has a file on day 1 only; its late copy goes to day 2
    stats = generate(tmp_path, people=1, days=2, seed=0)
    later = tmp_path / "landing" / "crm_contacts" / "2026-09-03" / "crm_contacts_2026-09-02_redelivered.csv"
    assert str(later.relative_to(tmp_path)) in stats.redelivered
    original = tmp_path / "landing" / "crm_contacts" / "2026-09-02" / "crm_contacts_2026-09-02.csv"
    assert later.read_bytes() == original.read_bytes()
    assert [p.name for p in later.parent.iterdir()] == [later.name]


def test_orders_are_versioned_across_exports(sample: Sample) -> None:
    versions: dict[str, list[tuple[str, str, date]]] = defaultdict(list)
    for _, folder, row in sample.rows["orders"]:
        if row["order_id"] and row["order_updated_at"] != "not-a-date":
            versions[row["order_id"]].append((row["order_updated_at"], row["status"], folder))
    flow = ["placed", "paid", "shipped", "delivered"]
    complete = 0
    for rows in versions.values():
        rows = sorted(set(rows), key=lambda r: _parse_ts(r[0]))
        statuses = [s for _, s, _ in rows]
        if statuses[:4] == flow and len({f for _, _, f in rows}) > 1:
            complete += 1
        assert statuses[0] == "placed" or "placed" not in statuses
    assert complete > 10
    statuses = Counter(r["status"] for _, _, r in sample.rows["orders"])
    assert statuses["cancelled"] and statuses["returned"]
    assert set(statuses) <= set(SOURCES["orders"].enums["status"])


def test_crm_contacts_have_versions_and_consent_changes(sample: Sample) -> None:
    history: dict[str, list[dict]] = defaultdict(list)
    for _, _, row in sample.rows["crm_contacts"]:
        if row["contact_id"] and row["updated_at"] != "not-a-date":
            history[row["contact_id"]].append(row)
    assert all(re.fullmatch(r"C\d{6,}", c) for c in history)
    assert any(len(v) > 1 for v in history.values())
    revoked = 0
    for rows in history.values():
        consents = [r["marketing_consent"] for r in sorted(rows, key=lambda r: _parse_ts(r["updated_at"]))]
        if "true" in consents and consents[-1] == "false" and consents.index("true") < len(consents) - 1:
            revoked += 1
    assert revoked, "an unsubscribe shows up as a later CRM version"
    values = {r["marketing_consent"] for v in history.values() for r in v}
    assert values == {"true", "false", ""}


def test_some_events_arrive_days_late(sample: Sample) -> None:
    late = [row for source in EVENT_SOURCES for _, folder, row in sample.rows[source]
            if row["occurred_at"] != "not-a-date" and (folder - _parse_ts(row["occurred_at"]).date()).days >= 3]
    assert late
    total = sum(len(sample.rows[s]) for s in EVENT_SOURCES)
    assert len(late) < 0.05 * total


def test_a_few_invalid_rows_of_every_kind(sample: Sample) -> None:
    total = sum(len(items) for items in sample.rows.values())
    empty = [s for s, items in sample.rows.items() for _, _, r in items if not r[SOURCES[s].key]]
    garbage = [s for s, items in sample.rows.items() for _, _, r in items if r[SOURCES[s].timestamp] == "not-a-date"]
    negative = [r for s in ("orders", "pos_transactions") for _, _, r in sample.rows[s]
                if r["total_amount"].startswith("-")]
    rating = [r for _, _, r in sample.rows["reviews"] if r["rating"] == "five"]
    assert set(empty) == set(SOURCES) and set(garbage) == set(SOURCES)
    assert negative and rating
    assert (len(empty) + len(garbage) + len(negative) + len(rating)) / total < 0.02


# ------------------------------------------------------------------------------------------------ knobs
def test_mess_rates_can_be_switched_off(tmp_path: Path) -> None:
    calm = MessRates(invalid_row=0, event_duplicate=0, file_redelivery=0, late_event=0)
    generate(tmp_path, people=200, days=10, seed=5, rates=calm)
    sample = Sample(tmp_path, GenerateStats(tmp_path, 200, 10, 5, START))
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in landing_files(tmp_path)]
    assert len(hashes) == len(set(hashes))
    for source in EVENT_SOURCES:
        ids = [r["event_id"] for _, _, r in sample.rows[source]]
        assert all(ids) and len(ids) == len(set(ids)), source
        for _, folder, row in sample.rows[source]:
            assert (folder - _parse_ts(row["occurred_at"]).date()).days == 1


def gzip_members(path: Path) -> int:
    """How many gzip members (one per write) a .gz file holds."""
    data, members = path.read_bytes(), 0
    while data:
        stream = zlib.decompressobj(wbits=31)
        stream.decompress(data)
        data, members = stream.unused_data, members + 1
    return members


def test_many_chunks_append_to_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator.run, "CHUNK_PEOPLE", 70)
    stats = generate(tmp_path, people=200, days=8, seed=9)
    sample = Sample(tmp_path, stats)
    gz = [p for p in landing_files(tmp_path) if p.name.endswith(".gz")]
    assert max(gzip_members(p) for p in gz) == 3, "three chunks of 70 people append to a day's file"
    assert len(sample.people) == 200
    keys = {(s, r[SOURCES[s].key]) for s, items in sample.rows.items() for _, _, r in items if r[SOURCES[s].key]}
    assert keys == set(sample.truth)
    for path in landing_files(tmp_path):
        if path.name.endswith(".csv.gz") or path.name.endswith(".csv"):
            with _open_text(path) as f:
                first_cells = [line.split(",")[0] for line in f]
            key = SOURCES[path.parts[-3]].key
            assert first_cells.count(key) == 1, path


def test_rejects_nonsense_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, people=0, days=10, seed=1)


# ------------------------------------------------------------------------------------------------ link columns
def test_link_columns_are_carried_with_realistic_gaps() -> None:
    """The optional link columns: the order id on most web purchase events (that order's id, or a cached page's
    stale one), the ESP's subscriber id on newsletter events and, mostly, in the landing URL of a click; the
    account id on account holders' main CRM contacts only, never on store-only or disconnected contacts.
    Rates are read on the bundled sample (2,000 people): the module's small sample has too few clicks."""
    sample = Sample(SEEDS, None)
    orders_of = {row["order_id"]: person for person, row in sample.keyed("orders")}
    purchases = [(person, row) for person, row in sample.keyed("web_events") if row["event_type"] == "purchase"]
    with_id = [(person, row) for person, row in purchases if row["order_id"]]
    assert 0.93 <= len(with_id) / len(purchases) <= 0.99, len(with_id) / len(purchases)
    own = sum(orders_of.get(row["order_id"]) == person for person, row in with_id)
    assert own / len(with_id) > 0.99
    assert {row["order_id"] for _, row in with_id} <= set(orders_of)
    assert not any(row["order_id"] for _, _, row in sample.rows["web_events"] if row["event_type"] != "purchase")

    clicks = [row for _, row in sample.keyed("email_events") if row["event_type"] == "click"]
    assert clicks and all(row["subscriber_id"] and f"mc_eid={row['subscriber_id']}" in row["link_url"]
                          or "mc_eid=*|UNIQID|*" in row["link_url"] for row in clicks)
    landings = [row for _, row in sample.keyed("web_events")
                if row["utm_medium"] == "email" and row["event_type"] == "page_view"]
    stripped = sum("mc_eid=" not in row["page_url"] for row in landings) / len(landings)
    assert 0.06 <= stripped <= 0.2, stripped
    assert not any(row["subscriber_id"] for _, row in sample.keyed("email_events")
                   if row["campaign_id"].startswith("txn-"))

    accounts = {p["person_id"]: p["user_id"] for p in sample.people.values()}
    contacts = list(sample.keyed("crm_contacts"))
    carried = [(person, row) for person, row in contacts if row["account_id"]]
    assert carried and all(row["account_id"] in (accounts[person], "U-IMPORT") for person, row in carried)
    holders = [(person, row) for person, row in contacts if accounts[person]]
    assert 0.5 < sum(bool(row["account_id"]) for _, row in holders) / len(holders) < 0.98
    carrying: dict[str, set[str]] = defaultdict(set)
    for person, row in carried:
        if row["account_id"] == accounts[person]:
            carrying[person].add(row["contact_id"])
    assert all(len(ids) == 1 for ids in carrying.values())  # the main contact: store and disconnected ones never
    several = [person for person in carrying if "|" in sample.people[person]["crm_contact_ids"]]
    assert several, "people with several contacts, one of which carries the account"


# ------------------------------------------------------------------------------------------------ typing errors
class _NoiseWorld:
    """The two things mess's typing errors read from a World: the rates and the noise stream."""

    def __init__(self, rates: MessRates, seed: int) -> None:
        from random import Random

        self.rates, self.noise_rng = rates, Random(seed)


def _damerau_levenshtein(a: str, b: str) -> int:
    """Optimal string alignment distance (adjacent transpositions count one edit)."""
    d = [[max(i, j) if min(i, j) == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_name_errors_come_at_their_rate_and_are_small() -> None:
    """name_error misspells each name at its rate, with one error of the GeCo/FEBRL kinds: an edit or two (a
    phonetic or OCR replacement like ph -> f or m -> rn), never a lower-case first letter."""
    from generator import mess

    w = _NoiseWorld(MessRates(name_error=0.06), seed=3)
    names = ["Robert", "Katherine", "Thompson", "Phillips", "García", "Okafor", "Williams", "Jackson"] * 1000
    typed = [mess.name_error(w, name) for name in names]
    changed = [(name, out) for name, out in zip(names, typed, strict=True) if out != name]
    assert 0.05 < len(changed) / len(names) < 0.07
    distances = Counter(_damerau_levenshtein(name.lower(), out.lower()) for name, out in changed)
    assert set(distances) <= {1, 2, 3} and distances[1] > 0.6 * len(changed), distances
    assert all(out[0].isupper() or (name[0], out[0]) == ("O", "0") for name, out in changed)  # 'O' read as '0' 
    # every kind shows up: a keyboard neighbour (Robert -> Roberr), a transposition, a phonetic variant
    assert any(out.lower() == name.lower().replace(old, new, 1)
               for name, out in changed for old, new in mess._PHONETIC_VARIANTS if old in name.lower())
    assert any(sorted(out) == sorted(name) for name, out in changed)  # transposed letters
    assert all(mess.name_error(_NoiseWorld(MessRates(name_error=0), 1), name) == name for name in names[:50])


def test_birth_dates_and_postcodes_get_one_digit_errors_at_their_rates() -> None:
    from generator import mess

    w = _NoiseWorld(MessRates(birth_date_error=0.04), seed=5)
    born = [date(1950, 1, 1) + timedelta(days=17 * i) for i in range(5000)]
    typed = [mess.birth_date_error(w, b) for b in born]
    changed = [(b, t) for b, t in zip(born, typed, strict=True) if t != b]
    assert 0.03 < len(changed) / len(born) < 0.05
    assert all(_damerau_levenshtein(b.isoformat(), t.isoformat()) == 1 for b, t in changed)
    digits = [mess.mistype_digits(w.noise_rng, "94110") for _ in range(500)]
    assert all(_damerau_levenshtein("94110", d) == 1 and len(d) == 5 for d in digits)
    assert any(sorted(d) == sorted("94110") for d in digits) and any(sorted(d) != sorted("94110") for d in digits)


def test_households_have_twins_and_namesakes_but_no_two_members_of_one_name(tmp_path: Path) -> None:
    """Twins share a birth date and surname with another first name; a namesake junior shares the full name with
    another birth date; otherwise no household has one first name twice."""
    generate(tmp_path, people=3000, days=2, seed=4, rates=MessRates(twins=0.05, namesake_junior=0.05))
    people = read_gz_csv(tmp_path / "truth" / "people.csv.gz")
    households: dict[str, list[dict]] = defaultdict(list)
    for person in people:
        households[person["household_id"]].append(person)
    twins = namesakes = 0
    for members in households.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a["first_name"] == b["first_name"]:
                    assert a["last_name"] == b["last_name"] and a["birth_date"] != b["birth_date"], (a, b)
                    namesakes += 1
                elif a["birth_date"] == b["birth_date"] and a["last_name"] == b["last_name"]:
                    twins += 1
    multi = sum(len(m) > 1 for m in households.values())
    assert 0.02 * multi < twins and 0.02 * multi < namesakes, (multi, twins, namesakes)
