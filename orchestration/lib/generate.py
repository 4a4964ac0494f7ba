"""Deterministic generator of realistic, messy raw exports and the ground truth behind them.

`generate(out, people, days, seed, start)` simulates `people` customers whose activity falls in
[start, start + days) and writes what eight source systems would export about them each night:

    out/landing/<source>/<YYYY-MM-DD>/<source>_<YYYY-MM-DD>.<ext>   folder date = export date
    out/landing/<source>/<YYYY-MM-DD>/<source>_<date>_resent.<ext>  / _redelivered.<ext>: re-delivered copies
    out/truth/records.csv.gz    source, record_key, person_id: one row per distinct non-empty record key
    out/truth/people.csv.gz     the clean truth per person (PEOPLE_COLUMNS: names, nicknames, emails, phones,
                                household, birth date, address and move, user/loyalty/contact/cookie/device ids)

An export dated D holds the rows that happened on day D - 1 (plus late and re-sent ones), so folders run
from start + 1 to start + days. Same arguments give byte-identical files (string-seeded random.Random, no
wall clock, gzip mtime 0 and no file name, pyarrow Parquet). `out/landing` and `out/truth` are replaced.

Formats (every value is text; an empty string, or null in JSON and Parquet, where a system did not know it):

    web_events .csv.gz      app_events .jsonl.gz    orders .csv             pos_transactions .parquet
    email_events .csv.gz    crm_contacts .csv       support_tickets .jsonl  reviews .csv

CSV: a header row, UTF-8, RFC-4180 quoting (csv module), '\n' line ends except crm_contacts ('\r\n').
Columns are exactly `contract.SOURCES[source].columns`, in that order. People are simulated in chunks of
CHUNK_PEOPLE; with more people than that, every chunk appends to the same day files (one more gzip member
per chunk in .gz files, a valid multi-member stream), so a day stays one file at any scale.

Journeys. Awareness: ad clicks tagged utm_source/utm_medium (google|bing/cpc, facebook|instagram|tiktok/
paid_social, criteo|gdn/display or banner, newsletter/email), organic search (a search-engine referrer, no
utm), referrals and direct visits; landing page_url keeps its query string. Consideration: product views,
searches, carts, app screens, newsletter opens and clicks. Purchase: web and app orders, store (POS)
purchases. Retention: repeat orders, weekly newsletters, unsubscribes. Advocacy: reviews after delivery;
support tickets. About 60% of people never buy. Identifiers per system:
- web_events: anonymous_id cookie (new cookies on new devices, more for account holders), user_id once
  logged in; login, signup and purchase events carry both. Guest buyers often sign up on the confirmation.
- app_events: device_id (ios ids upper-case), user_id once logged in; times in device local time + offset.
- orders: user_id (empty for guest checkout), email, phone, name, shipping address; one row per status.
- pos_transactions: loyalty_id when the card is shown, phone when asked; many are anonymous.
- email_events: email; newsletter click links carry the ESP's subscriber token (mc_eid=...), and the web
  visit that follows lands on exactly that URL (the only bridge from email-only people to their cookies).
- crm_contacts: contact_id (C + digits), versions by updated_at (sign-up, order, loyalty sign-up in store,
  unsubscribe, move, new email), birth_date (ISO, or MM/DD/YYYY from the store tablet), consents.
- support_tickets: email and/or phone; reviews: email and/or user_id (Google reviews carry neither).

Mess, with the default rates of `MessRates` (per record unless stated; pass `rates=` to change them):

    email_variant        0.08   email with case/whitespace variants (' John.Doe@Example.COM ', upper case)
    phone_other_format   0.35   phone in another US format than the system's usual one: '+1 415-555-0134',
                                '(415) 555-0134', '415.555.0134', '4155550134', '1-415-555-0134', ...
    nickname             0.10   nickname instead of the first name, where one exists (Robert/Bob, ...)
    name_typo            0.03   one-letter typo or a dropped accent (García/Garcia); 1% upper-cased
    name_swap            0.02   first and last name swapped
    birth_date_swap      0.10   birth date with day and month swapped (of dates whose day is <= 12)
    address_variant      0.30   street written differently ('12 Main Street' / '12 Main St' / '12 Main St.' /
                                'Apt 4B' vs '#4B' / upper case / country 'USA'); 10% of those add ZIP+4
    household            0.35   people living in households of 2-4 (shared address, mostly shared surname)
    household_landline   0.60   households with a shared landline, given in 25% of members' phone fields
    staff_placeholder    0.70   store sign-ups where staff type 'noemail@example.com' (85%) or 'unknown';
                                on an existing contact the store sync overwrites the email half the time
    placeholder_phone    0.08   phones typed as '0000000000' or 'unknown' by staff (store, support)
    crm_disconnected     0.08   people with CRM contacts who get another contact sharing no identifier
                                (new email, new phone, no loyalty id; name variant + birth date + address)
    crm_store_duplicate  0.40   store loyalty sign-ups that create a second contact instead of updating one
    crm_address_move     0.05   people who move (a CRM version and the new address in later records)
    crm_new_email        0.03   people who change their email (a CRM version, the ESP follows)
    event_duplicate      0.01   web/app/email/POS rows delivered twice (same event id, same content);
    duplicate_next_day   0.40     of those, the share that arrives in the next day's export
    late_event           0.01   rows exported 2-6 days after they happened
    file_redelivery      0.01   files delivered again as a byte copy under another name; every run has at
                                least one in the same folder and one in a later folder
    naive_timestamp      0.03   timestamps without an offset (meaning UTC); by habit CRM 50%, POS 30%;
                                app 90% with the device's offset; orders with milliseconds; Google reviews
                                carry a date only
    invalid_row          0.003  rows with an empty key, 'not-a-date', a negative total_amount or rating
                                'five' (each kind at least once per source where it applies)
    guest_checkout       0.25   buyers who do not intend to create an account (web orders without user_id)
    non_usd              0.03   orders in EUR or GBP (POS always USD)
    order_cancel         0.05   cancelled orders (before or after payment)
    order_return         0.06   delivered orders returned later (a 'returned' version)
    unsubscribe          0.08   unsubscribes per opened, not clicked newsletter (marketing_consent 'false')

On the bundled sample (2,000 people, 60 days, seed 7) exact identifiers alone (emails and phones without
placeholders, user/loyalty/contact/cookie/device ids, mc_eid) put about 60% of people in one piece and about
88% of same-person record pairs together; the rest needs fuzzy matching or cannot be linked (anonymous
cookies, anonymous store purchases), as in real exports.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from random import Random

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.contract import SOURCES

FORMATS: dict[str, str] = {
    "web_events": "csv.gz",
    "app_events": "jsonl.gz",
    "orders": "csv",
    "pos_transactions": "parquet",
    "email_events": "csv.gz",
    "crm_contacts": "csv",
    "support_tickets": "jsonl",
    "reviews": "csv",
}
PLACEHOLDER_EMAILS = ("noemail@example.com", "unknown")
PLACEHOLDER_PHONES = ("0000000000", "unknown")
CHUNK_PEOPLE = 20_000
SHOP = "https://shop.example.com"

# The row tuples below are built in this column order; a contract change must be mirrored here.
_EXPECTED_COLUMNS = {
    "web_events": ("event_id", "occurred_at", "anonymous_id", "user_id", "event_type", "page_url", "referrer_url",
                   "utm_source", "utm_medium", "utm_campaign", "device_type"),
    "app_events": ("event_id", "occurred_at", "device_id", "user_id", "event_type", "screen_name", "campaign", "os"),
    "orders": ("order_id", "order_updated_at", "placed_at", "user_id", "email", "phone", "first_name", "last_name",
               "street", "city", "postcode", "country", "status", "total_amount", "currency", "sales_channel"),
    "pos_transactions": ("transaction_id", "occurred_at", "store_id", "loyalty_id", "phone", "total_amount",
                         "currency", "items_count"),
    "email_events": ("event_id", "occurred_at", "email", "campaign_id", "event_type", "link_url"),
    "crm_contacts": ("contact_id", "updated_at", "first_name", "last_name", "email", "phone", "birth_date", "street",
                     "city", "postcode", "country", "loyalty_id", "marketing_consent", "personalization_consent"),
    "support_tickets": ("ticket_id", "opened_at", "closed_at", "email", "phone", "contact_channel", "category",
                        "satisfaction_score"),
    "reviews": ("review_id", "posted_at", "email", "user_id", "platform", "rating", "product_id"),
}
_SOURCE_NAMES = tuple(_EXPECTED_COLUMNS)
WEB, APP, ORD, POS, EML, CRM, SUP, REV = range(8)


@dataclass(frozen=True)
class MessRates:
    """How often each kind of mess occurs (see the module docstring)."""

    email_variant: float = 0.08
    phone_other_format: float = 0.35
    nickname: float = 0.10
    name_typo: float = 0.03
    name_swap: float = 0.02
    birth_date_swap: float = 0.10
    address_variant: float = 0.30
    household: float = 0.35
    household_landline: float = 0.60
    staff_placeholder: float = 0.70
    placeholder_phone: float = 0.08
    crm_disconnected: float = 0.08
    crm_store_duplicate: float = 0.40
    crm_address_move: float = 0.05
    crm_new_email: float = 0.03
    event_duplicate: float = 0.01
    duplicate_next_day: float = 0.40
    late_event: float = 0.01
    file_redelivery: float = 0.01
    naive_timestamp: float = 0.03
    invalid_row: float = 0.003
    guest_checkout: float = 0.25
    non_usd: float = 0.03
    order_cancel: float = 0.05
    order_return: float = 0.06
    unsubscribe: float = 0.08


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


# --------------------------------------------------------------------------------------------------------------
# Reference data
_FIRST_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Robert", ("Bob", "Rob", "Bobby")), ("William", ("Bill", "Will", "Billy")),
    ("Elizabeth", ("Liz", "Beth", "Eliza")),
    ("Katherine", ("Kate", "Katie", "Kathy")), ("Michael", ("Mike",)), ("James", ("Jim", "Jimmy")),
    ("Richard", ("Rick", "Dick")), ("Jennifer", ("Jen", "Jenny")), ("Margaret", ("Maggie", "Peggy")),
    ("Thomas", ("Tom", "Tommy")), ("Christopher", ("Chris",)), ("Daniel", ("Dan", "Danny")), ("Joseph", ("Joe",)),
    ("Patricia", ("Pat", "Trish")), ("Susan", ("Sue",)), ("Jonathan", ("Jon",)), ("Nicholas", ("Nick",)),
    ("Alexander", ("Alex",)), ("Samantha", ("Sam",)), ("Benjamin", ("Ben",)), ("Matthew", ("Matt",)),
    ("Anthony", ("Tony",)), ("Andrew", ("Andy", "Drew")), ("Steven", ("Steve",)), ("Rebecca", ("Becky",)),
    ("Victoria", ("Vicky", "Tori")), ("Deborah", ("Debbie", "Deb")), ("Edward", ("Ed", "Ted", "Eddie")),
    ("Charles", ("Charlie", "Chuck")), ("Jessica", ("Jess",)), ("Kimberly", ("Kim",)), ("Timothy", ("Tim",)),
    ("Gregory", ("Greg",)), ("Jacqueline", ("Jackie",)), ("Abigail", ("Abby",)), ("Zachary", ("Zach",)),
    ("Maria", ()), ("Wei", ()), ("Priya", ()), ("Mohammed", ()), ("Aisha", ()), ("Carlos", ()), ("Sofia", ()),
    ("Hiroshi", ()), ("Olga", ()), ("Fatima", ()), ("Luis", ()), ("Emily", ()), ("Olivia", ()), ("Noah", ()),
    ("Liam", ()), ("Ava", ()), ("Mia", ()), ("Ethan", ()), ("Lucas", ()), ("Chloe", ()), ("Grace", ()), ("Zoe", ()),
    ("Hannah", ()), ("Ryan", ()), ("Kevin", ()), ("Laura", ()), ("Anna", ()), ("Mark", ()), ("Paul", ()),
    ("David", ()), ("Sarah", ()), ("Lisa", ()), ("Karen", ()), ("Nancy", ()), ("Brian", ()), ("Jason", ()),
    ("Eric", ()), ("Amy", ()), ("Rachel", ()), ("José", ()), ("Chen", ()), ("Aaliyah", ()), ("Diego", ()),
    ("Ananya", ()), ("Jamal", ()), ("Ingrid", ()), ("Siobhan", ()), ("Renée", ()), ("Tyler", ()), ("Megan", ()),
)
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "García", "Rodriguez", "Wilson",
    "Martinez", "Anderson", "Taylor", "Thomas", "Hernandez", "Moore", "Martin", "Jackson", "Thompson", "White",
    "López", "Lee", "Gonzalez", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Pérez", "Hall", "Young",
    "Allen", "Sánchez", "Wright", "King", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Ramirez",
    "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker", "Collins",
    "Edwards", "Stewart", "Flores", "Morris", "Nguyen", "Murphy", "Rivera", "Cook", "Rogers", "Morgan",
    "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Gómez", "Kelly", "Howard", "Ward", "Cox", "Díaz",
    "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Reyes", "Cruz", "Hughes", "Price",
    "Myers", "Long", "Foster", "Sanders", "Ross", "Morales", "Powell", "Sullivan", "Russell", "Ortiz",
    "Jenkins", "Gutierrez", "Perry", "Butler", "Barnes", "Fisher", "Henderson", "Coleman", "Simmons",
    "Patterson", "Jordan", "Reynolds", "Hamilton", "Graham", "Kim", "Patel", "Shah", "Chen", "Wang", "Singh",
    "O'Brien", "O'Connor", "D'Angelo", "McDonald", "MacLeod", "Van der Berg", "Muñoz", "Peña", "Kowalski",
    "Schmidt", "Müller", "Rossi", "Ivanov", "Yamamoto", "Okafor", "Mensah", "Haddad", "Cohen", "Larsen",
)
_STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln",
    "Jackson", "Highland", "Church", "Mill", "River", "Spring", "Ridge", "Valley", "Franklin", "Madison",
    "Jefferson", "Chestnut", "Walnut", "Willow", "Meadow", "Forest", "Broad", "Market", "Union", "Center",
    "Harbor", "Bay", "College", "Prospect", "Adams", "Grant", "Sherman", "Cherry", "Birch", "Dogwood",
)
_STREET_TYPES = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"), ("Drive", "Dr"), ("Lane", "Ln"),
    ("Court", "Ct"), ("Place", "Pl"), ("Way", "Wy"), ("Terrace", "Ter"),
)
# city, zip codes, area codes, UTC offset in September (hours)
_CITIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int], ...] = (
    ("San Francisco", ("94110", "94114", "94117", "94122"), ("415", "628"), -7),
    ("Los Angeles", ("90012", "90026", "90034", "90046"), ("213", "323", "310"), -7),
    ("Seattle", ("98101", "98103", "98115", "98122"), ("206",), -7),
    ("Portland", ("97201", "97209", "97214", "97217"), ("503", "971"), -7),
    ("Denver", ("80202", "80205", "80210", "80218"), ("303", "720"), -6),
    ("Phoenix", ("85004", "85008", "85016", "85020"), ("602", "480"), -7),
    ("Austin", ("78701", "78704", "78745", "78751"), ("512", "737"), -5),
    ("Dallas", ("75201", "75204", "75214", "75219"), ("214", "469"), -5),
    ("Chicago", ("60601", "60614", "60647", "60657"), ("312", "773"), -5),
    ("Minneapolis", ("55401", "55408", "55414", "55419"), ("612",), -5),
    ("Atlanta", ("30303", "30308", "30318", "30324"), ("404", "678"), -4),
    ("Miami", ("33101", "33130", "33139", "33145"), ("305", "786"), -4),
    ("New York", ("10001", "10011", "10025", "10128"), ("212", "646", "718"), -4),
    ("Boston", ("02108", "02116", "02139", "02215"), ("617", "857"), -4),
    ("Philadelphia", ("19103", "19104", "19147", "19130"), ("215", "267"), -4),
    ("Washington", ("20001", "20009", "20016", "20003"), ("202",), -4),
    ("Nashville", ("37203", "37206", "37209", "37212"), ("615",), -5),
    ("Raleigh", ("27601", "27605", "27609", "27612"), ("919",), -4),
    ("Salt Lake City", ("84101", "84102", "84105", "84106"), ("801",), -6),
    ("San Diego", ("92101", "92104", "92109", "92116"), ("619", "858"), -7),
)
_EMAIL_DOMAINS = (
    ("gmail.com", 35), ("yahoo.com", 12), ("outlook.com", 10), ("hotmail.com", 8), ("icloud.com", 10),
    ("aol.com", 3), ("comcast.net", 4), ("proton.me", 3), ("acme-corp.com", 5), ("globex.com", 4),
    ("initech.io", 3), ("umbrella-health.org", 3),
)
_ACQUISITION = (  # channel, weight
    ("paid_search", 22), ("paid_social", 18), ("display", 8), ("organic", 22), ("referral", 8), ("direct", 22),
)
_RETURNING = (("direct", 35), ("organic", 20), ("paid_search", 15), ("paid_social", 10), ("display", 8),
              ("referral", 4), ("push", 8))
_REFERRAL_SITES = (
    "https://www.reddit.com/r/running/", "https://www.runnersworld.example/best-shoes-2026",
    "https://blog.gearjunkie.example/fall-picks", "https://www.pinterest.com/", "https://news.ycombinator.com/",
)
_CATEGORIES = ("running", "hiking", "outerwear", "kids", "accessories", "sale", "new-arrivals")
_SEARCH_TERMS = ("rain jacket", "trail shoes", "socks", "gift card", "backpack 30l", "fleece, women", 'shoes "wide"')
_HOURS_UTC = (3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 10, 10, 10, 9, 7, 5)  # weights per UTC hour
_PHONE_STYLE = {ORD: 5, POS: 3, CRM: 0, SUP: 1}  # the format each system usually writes
_PRICES = (999, 1499, 1999, 2499, 2999, 3499, 3999, 4999, 5999, 6999, 7999, 8999, 9999, 12999, 14999, 19999, 24999)
_HEX_MULT = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F)
_DEC_MULT = (7919, 104729, 1299709, 15485863, 32452843, 49979687, 67867967, 86028121)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _fmt_phone(digits: str, style: int) -> str:
    if len(digits) != 10:
        return digits
    a, b, c = digits[:3], digits[3:6], digits[6:]
    if style == 0:
        return f"+1 {a}-{b}-{c}"
    if style == 1:
        return f"({a}) {b}-{c}"
    if style == 2:
        return f"{a}.{b}.{c}"
    if style == 3:
        return digits
    if style == 4:
        return f"1-{a}-{b}-{c}"
    if style == 5:
        return f"+1{digits}"
    return f"{a}-{b}-{c}"


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


# --------------------------------------------------------------------------------------------------------------
# Identifiers: counters pushed through a seeded bijection, so keys are unique but do not reveal order or person.
class _Ids:
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
        if kind not in self._params:
            self._params[kind] = (self._rng.choice(_HEX_MULT) | 1, self._rng.getrandbits(bits), bits)
        mult, key, bits = self._params[kind]
        x = ((self._next(kind) * mult) & ((1 << bits) - 1)) ^ key
        text = f"{x:0{bits // 4}x}"
        return prefix + (text.upper() if upper else text)

    def dec(self, kind: str, prefix: str, width: int, per_person: int) -> str:
        if kind not in self._params:
            width = max(width, len(str(self._people * per_person)))
            self._params[kind] = (self._rng.choice(_DEC_MULT), self._rng.randrange(10**width), width)
        mult, offset, width = self._params[kind]
        c = self._next(kind)
        if c >= 10**width:
            raise RuntimeError(f"identifier space for {kind} exhausted; raise per_person")
        return f"{prefix}{(c * mult + offset) % 10**width:0{width}d}"


# --------------------------------------------------------------------------------------------------------------
class _Person:
    __slots__ = (
        "idx", "pid", "hh", "first", "last", "nicks", "email", "old_email", "new_email", "email_change_t",
        "phone", "landline", "old_phone", "birth", "addr", "new_addr", "move_t", "city", "tz", "store_id",
        "user_id", "account_t", "loyalty_id", "cookies", "devices", "contacts", "customer", "sub_t",
    )

    def __init__(self) -> None:
        self.nicks: tuple[str, ...] = ()
        self.old_email = self.new_email = self.landline = self.old_phone = self.user_id = self.loyalty_id = ""
        self.email_change_t = self.move_t = self.account_t = self.sub_t = None
        self.new_addr = None
        self.cookies: list[list] = []
        self.devices: list[list] = []
        self.contacts: list[str] = []
        self.customer = False


class _Generator:
    def __init__(self, out: Path, people: int, days: int, seed: int, start: date, rates: MessRates) -> None:
        self.out, self.people, self.days, self.seed, self.start, self.r = out, people, days, seed, start, rates
        self.W = days * 86400
        base = Random(f"journey-generator:{seed}")
        self.ids = _Ids(Random(f"ids:{seed}"), people)
        self.day_str = [(start + timedelta(days=d)).isoformat() for d in range(-2, days + 3)]
        self.used_emails: set[str] = set()
        self.used_phones: set[str] = set()
        self.products = [(f"SKU-{i:05d}", base.choice(_PRICES)) for i in range(1, 401)]
        self.stores = {city[0]: [f"S{100 + 3 * i + k:03d}" for k in range(1 + (i % 3 == 0))]
                       for i, city in enumerate(_CITIES)}
        self.campaigns = [(d * 86400 + 15 * 3600, f"nl-{self.day_str[d + 2]}") for d in range(2, days, 7)]
        self.hour_cum = []
        acc = 0
        for w in _HOURS_UTC:
            acc += w
            self.hour_cum.append(acc)
        self.stats = GenerateStats(out=out, people=people, days=days, seed=seed, start=start)
        self.file_rows: dict[Path, int] = {}
        self.forced: dict[int, list[str]] = {}
        for i, name in enumerate(_SOURCE_NAMES):
            kinds = ["empty_key", "bad_timestamp"]
            if SOURCES[name].amount:
                kinds.insert(0, "negative_amount")
            if name == "reviews":
                kinds.insert(0, "bad_rating")
            self.forced[i] = kinds  # each kind at least once per run, early, so small samples show it too
        self.emitted = [0] * 8
        self.pos_rows: list[tuple] = []

    # ---------------------------------------------------------------------------------------------- time formats
    def _hms(self, t: int) -> tuple[str, int, int, int]:
        d, s = divmod(t, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return self.day_str[d + 2], h, m, s

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
        if self.rng.random() < self.r.naive_timestamp:
            return self.ts_naive(t, "T")
        return self.ts_z(t)

    def at(self, day: int) -> int:
        """A time of day on `day` following a US-shaped activity curve."""
        rng = self.rng
        hour = rng.choices(range(24), cum_weights=self.hour_cum)[0]
        return day * 86400 + hour * 3600 + rng.randrange(3600)

    # ---------------------------------------------------------------------------------------------- emitting rows
    def add(self, src: int, t: int, row: tuple, duplicable: bool = False) -> None:
        """Queue a row for the export that follows time t (late, duplicated or corrupted at the configured rates)."""
        rng, r = self.rng, self.r
        self.emitted[src] += 1
        forced = self.forced[src]
        if forced and r.invalid_row > 0 and self.emitted[src] >= 2:
            row = self._corrupt(src, row, forced.pop(0))
        elif rng.random() < r.invalid_row:
            kinds = ["empty_key", "bad_timestamp"]
            if src in (ORD, POS):
                kinds.append("negative_amount")
            if src == REV:
                kinds.append("bad_rating")
            row = self._corrupt(src, row, rng.choice(kinds))
        export = t // 86400 + 1
        if rng.random() < r.late_event:
            export += rng.randint(2, 6)
        export = min(export, self.days)
        item = (export, t, self.pid, row)
        if src == POS:
            self.pos_rows.append(item)
        else:
            self.buf[src].append(item)
        if duplicable and rng.random() < r.event_duplicate:
            again = min(export + 1, self.days) if rng.random() < r.duplicate_next_day else export
            dup = (again, t, self.pid, row)
            if src == POS:
                self.pos_rows.append(dup)
            else:
                self.buf[src].append(dup)

    def _corrupt(self, src: int, row: tuple, kind: str) -> tuple:
        values = list(row)
        if kind == "empty_key":
            values[0] = ""
        elif kind == "bad_timestamp":
            values[1] = "not-a-date"
        elif kind == "negative_amount":
            i = 13 if src == ORD else 5
            values[i] = "-" + values[i].lstrip("-")
        elif kind == "bad_rating":
            values[5] = "five"
        return tuple(values)

    # ---------------------------------------------------------------------------------------------- people
    def _unique_email(self, first: str, last: str) -> str:
        rng = self.rng
        f, la = _ascii(first).lower().replace(" ", ""), _ascii(last).lower().replace(" ", "").replace("'", "")
        domain = rng.choices(_EMAIL_DOMAINS, weights=[w for _, w in _EMAIL_DOMAINS])[0][0]
        local = rng.choice((f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{la}.{f}", f"{f}{la[0]}"))
        email = f"{local}@{domain}"
        tries = 0
        while email in self.used_emails:
            tries += 1
            suffix = str(rng.randint(1, 99)) if tries < 4 else self.ids.hex("email_suffix", bits=24)
            email = f"{local}{suffix}@{domain}"
        self.used_emails.add(email)
        return email

    def _unique_phone(self, areas: tuple[str, ...]) -> str:
        rng = self.rng
        while True:
            exchange = rng.randint(201, 989)
            if exchange % 100 == 11 or exchange == 555:
                continue
            phone = f"{rng.choice(areas)}{exchange}{rng.randrange(10000):04d}"
            if phone not in self.used_phones:
                self.used_phones.add(phone)
                return phone

    def _address(self, city_i: int) -> tuple:
        rng = self.rng
        city, zips, _, _ = _CITIES[city_i]
        unit = ""
        if rng.random() < 0.25:
            unit = f"{rng.randint(1, 24)}{rng.choice('ABCD')}" if rng.random() < 0.5 else str(rng.randint(1, 420))
        return (rng.randint(1, 9899), rng.choice(_STREETS), rng.randrange(len(_STREET_TYPES)), unit, city,
                rng.choice(zips), city_i)

    def _make_people(self, first_idx: int, n: int) -> list[_Person]:
        rng, r = self.rng, self.r
        people: list[_Person] = []
        i = 0
        while i < n:
            size = 1
            if rng.random() < r.household:
                size = min(rng.choices((2, 3, 4), weights=(55, 30, 15))[0], n - i)
            city_i = rng.randrange(len(_CITIES))
            addr = self._address(city_i)
            landline = ""
            if size > 1:
                self.stats.households += 1
                if rng.random() < r.household_landline:
                    landline = self._unique_phone(_CITIES[city_i][2])
            head_last = rng.choice(_LAST_NAMES)
            for j in range(size):
                p = _Person()
                p.idx = first_idx + i + j
                p.pid = f"P{p.idx:06d}"
                p.hh = f"H{first_idx + i:06d}"
                p.first, p.nicks = rng.choice(_FIRST_NAMES)
                p.last = head_last if j == 0 or rng.random() < 0.75 else rng.choice(_LAST_NAMES)
                p.email = self._unique_email(p.first, p.last)
                p.phone = self._unique_phone(_CITIES[city_i][2])
                p.landline = landline
                p.birth = date(1948, 1, 1) + timedelta(days=rng.randrange(365 * 58))
                p.addr = addr
                p.city, p.tz = _CITIES[city_i][0], _CITIES[city_i][3]
                p.store_id = rng.choice(self.stores[p.city])
                people.append(p)
            i += size
        return people

    # ---------------------------------------------------------------------------------------------- typed values
    def email_of(self, p: _Person, t: int) -> str:
        if p.email_change_t is not None and t >= p.email_change_t and self.rng.random() < 0.9:
            return p.new_email
        return p.email

    def typed_email(self, email: str) -> str:
        rng = self.rng
        if rng.random() >= self.r.email_variant or "@" not in email:
            return email
        k = rng.randrange(4)
        if k == 0:
            return email.upper()
        if k == 1:
            return rng.choice((" ", "  ", "\t")) + email if rng.random() < 0.5 else email + " "
        local, _, domain = email.partition("@")
        name, _, tld = domain.rpartition(".")
        fancy = ".".join(x.capitalize() for x in local.split(".")) + "@" + name.capitalize() + "." + tld.upper()
        return f" {fancy} " if k == 3 else fancy

    def typed_phone(self, digits: str, src: int) -> str:
        if digits in PLACEHOLDER_PHONES:
            return digits
        style = _PHONE_STYLE[src]
        if self.rng.random() < self.r.phone_other_format:
            style = self.rng.randrange(7)
        return _fmt_phone(digits, style)

    def given_phone(self, p: _Person, src: int, staff: bool = False) -> str:
        rng = self.rng
        if staff and rng.random() < self.r.placeholder_phone:
            return rng.choice(PLACEHOLDER_PHONES)
        digits = p.landline if p.landline and rng.random() < 0.25 else p.phone
        return self.typed_phone(digits, src)

    def _typo(self, name: str) -> str:
        rng = self.rng
        plain = _ascii(name)
        if plain != name and rng.random() < 0.5:
            return plain
        if len(name) < 4:
            return name
        i = rng.randrange(1, len(name) - 1)
        op = rng.randrange(4)
        if op == 0:
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        if op == 1:
            return name[:i] + name[i + 1:]
        if op == 2:
            return name[:i] + name[i] + name[i:]
        return name[:i] + rng.choice("aeiourstnl") + name[i + 1:]

    def typed_name(self, p: _Person) -> tuple[str, str]:
        rng, r = self.rng, self.r
        first, last = p.first, p.last
        if p.nicks and rng.random() < r.nickname:
            first = rng.choice(p.nicks)
        if rng.random() < r.name_typo:
            if rng.random() < 0.5:
                first = self._typo(first)
            else:
                last = self._typo(last)
        if rng.random() < 0.01:
            first, last = first.upper(), last.upper()
        if rng.random() < r.name_swap:
            first, last = last, first
        return first, last

    def addr_of(self, p: _Person, t: int) -> tuple:
        return p.new_addr if p.move_t is not None and t >= p.move_t else p.addr

    def typed_address(self, addr: tuple) -> tuple[str, str, str, str]:
        rng = self.rng
        number, street, type_i, unit, city, zipcode, _ = addr
        full, abbr = _STREET_TYPES[type_i]
        kind = full
        unit_text = f", Apt {unit}" if unit else ""
        country = "US"
        if rng.random() < self.r.address_variant:
            k = rng.randrange(5)
            if k == 0:
                kind = abbr
            elif k == 1:
                kind = abbr + "."
            elif k == 2 and unit:
                unit_text = rng.choice((f" #{unit}", f" Apt. {unit}", f", Unit {unit}", f" Apt {unit}"))
            elif k == 3:
                street = street.upper()
                kind = abbr.upper()
            else:
                country = rng.choice(("USA", "United States", "us", ""))
            if rng.random() < 0.1:
                zipcode = f"{zipcode}-{rng.randrange(10000):04d}"
        return f"{number} {street} {kind}{unit_text}", city, zipcode, country

    def typed_birth(self, p: _Person, us_format: bool = False) -> str:
        b = p.birth
        y, m, d = b.year, b.month, b.day
        if d <= 12 and d != m and self.rng.random() < self.r.birth_date_swap:
            m, d = d, m
        return f"{m:02d}/{d:02d}/{y}" if us_format else f"{y}-{m:02d}-{d:02d}"

    # ---------------------------------------------------------------------------------------------- one person
    def simulate(self, p: _Person) -> None:
        rng, r, W = self.rng, self.r, self.W
        online = rng.random() < 0.28
        store = rng.random() < (0.35 if online else 0.18)
        store_only = store and not online and rng.random() < 0.6
        has_app = not store_only and rng.random() < 0.22
        subscribes = rng.random() < (0.45 if online else 0.25)
        intends_account = (online and rng.random() >= r.guest_checkout) or (
            rng.random() < (0.5 if has_app else 0.35 if subscribes else 0.1))
        p.customer = online or store
        self.crm_events: list[tuple] = []
        self.click_sessions: list[tuple] = []
        self.new_cookie_p = 0.2 if intends_account else 0.06
        self.intends_account = intends_account
        self.subscribes = subscribes
        first = self.at(rng.randrange(max(1, int(self.days * 0.75))))

        if rng.random() < r.crm_address_move:
            p.move_t = first + rng.randrange(max(1, W - first))
            p.new_addr = self._address(rng.randrange(len(_CITIES)))
            self.crm_events.append((p.move_t, "move", None))
        if rng.random() < r.crm_new_email:
            p.email_change_t = first + rng.randrange(max(1, W - first))
            p.new_email = self._unique_email(p.first, p.last)
            self.crm_events.append((p.email_change_t, "email_change", None))

        plan: list[list] = []
        if not store_only:
            t = first
            n = 1 + min(int(rng.expovariate(1 / (4.0 if online else 1.5))), 14)
            for i in range(n):
                channel = self._pick(_ACQUISITION) if i == 0 else self._returning(has_app)
                plan.append([t, "browse", channel, None])
                t += 600 + int(rng.expovariate(1 / (3.5 * 86400)))
                if t >= W:
                    break
            if online:
                k = rng.randrange(min(len(plan), 3))
                plan[k][1] = "buy"
                t = plan[k][0] + 1800
                while rng.random() < 0.35:
                    t += 86400 + int(rng.expovariate(1 / (12 * 86400)))
                    if t >= W:
                        break
                    plan.append([t, "buy", self._returning(has_app), None])
            if subscribes and rng.random() < 0.4:
                # newsletter pop-up on the first visit; otherwise the checkbox at sign-up or checkout
                p.sub_t = plan[0][0] + 90
                self.crm_events.append((p.sub_t, "subscribe", self.typed_email(self.email_of(p, p.sub_t))))
        if store:
            t = first if store_only else first + rng.randrange(max(1, W - first))
            member = rng.random() < 0.6
            for i in range(1 + (rng.random() < 0.4) + (rng.random() < 0.2)):
                t = (t // 86400) * 86400 + rng.randint(14 * 3600, 23 * 3600)
                if t >= W:
                    break
                plan.append([t, "store", None, member and i == 0])
                t += 86400 * rng.randint(2, 20)
        plan.sort(key=lambda x: x[0])
        for t, kind, channel, extra in plan:
            if kind == "store":
                self._store_visit(p, t, extra)
            elif has_app and rng.random() < (0.8 if channel in ("direct", "push") else 0.3):
                self._app_session(p, t, kind, channel, None)
            else:
                self._web_session(p, t, kind, "direct" if channel == "push" else channel, None)
        if subscribes and p.sub_t is None and plan:
            p.sub_t = plan[0][0] + 120
            self.crm_events.append((p.sub_t, "subscribe", self.typed_email(self.email_of(p, p.sub_t))))
        if p.sub_t is not None:
            self._newsletters(p)
        for t, campaign, link in self.click_sessions:
            if has_app and rng.random() < 0.2:
                self._app_session(p, t, "browse", "email", campaign)
            else:
                buys = p.user_id and p.account_t <= t and rng.random() < 0.08
                self._web_session(p, t, "buy" if buys else "browse", "email", link)
        if not p.customer and rng.random() < 0.02:
            self._ticket(p, first + rng.randrange(max(1, W - first)), rng.choice(("account", "product", "other")))
        if self.crm_events and rng.random() < r.crm_disconnected:
            self.crm_events.append((first + rng.randrange(max(1, W - first)), "disconnected", None))
        self._crm_flush(p)

    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        return self.rng.choices(weighted, weights=[w for _, w in weighted])[0][0]

    def _returning(self, has_app: bool) -> str:
        channel = self._pick(_RETURNING)
        return "direct" if channel == "push" and not has_app else channel

    def _landing(self, channel: str, link: str | None) -> tuple[str, str, str, str, str]:
        """utm_source, utm_medium, utm_campaign, referrer and landing page (with its query string) of a visit."""
        src, med, camp, ref, url = self._landing_parts(channel, link)
        if src and "?" not in url:
            url = f"{url}?utm_source={src}&utm_medium={med}&utm_campaign={camp}"
        return src, med, camp, ref, url

    def _landing_parts(self, channel: str, link: str | None) -> tuple[str, str, str, str, str]:
        rng = self.rng
        sku = self.products[rng.randrange(len(self.products))][0].lower()
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
            return "newsletter", "email", campaign, "", link
        if channel == "organic":
            ref = rng.choice(("https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
                              "https://duckduckgo.com/"))
            return "", "", "", ref, rng.choice((f"{SHOP}/", product, f"{SHOP}/blog/how-to-layer-for-hiking"))
        if channel == "referral":
            return "", "", "", rng.choice(_REFERRAL_SITES), product
        return "", "", "", "", rng.choice((f"{SHOP}/", f"{SHOP}/", product))

    def _cookie(self, p: _Person) -> list:
        rng = self.rng
        if not p.cookies or (len(p.cookies) < 5 and rng.random() < self.new_cookie_p):
            device = rng.choices(("desktop", "mobile", "tablet"), weights=(45, 45, 10))[0]
            p.cookies.append([self.ids.hex("cookie", bits=64), device, None])
        elif len(p.cookies) == 1 or rng.random() < 0.6:
            return p.cookies[0]
        return p.cookies[-1] if rng.random() < 0.5 else rng.choice(p.cookies)

    def _create_account(self, p: _Person, t: int) -> None:
        p.user_id = self.ids.dec("user", "U", 7, 1)
        p.account_t = t
        birth = self.typed_birth(p) if self.rng.random() < 0.35 else ""  # asked for a birthday voucher
        self.crm_events.append((t, "signup", (self.typed_email(self.email_of(p, t)), self.typed_name(p), birth)))
        if self.subscribes and p.sub_t is None and self.rng.random() < 0.6:
            p.sub_t = t + 5
            self.crm_events.append((p.sub_t, "subscribe", None))

    def _web_session(self, p: _Person, t: int, kind: str, channel: str, link: str | None) -> None:
        """One visit on the website; a 'buy' visit ends with a purchase event and an order."""
        rng, W = self.rng, self.W
        cookie = self._cookie(p)
        anon, device = cookie[0], cookie[1]
        has_account = p.account_t is not None and p.account_t <= t
        remembered = has_account and cookie[2] is not None and cookie[2] <= t and rng.random() < 0.85
        uid = p.user_id if remembered else ""
        src, med, camp, ref, url = self._landing(channel, link)
        rows: list[tuple[int, tuple]] = []
        clock = t

        def hit(event: str, page: str, referrer: str | None = None, utm: tuple = ("", "", "")) -> bool:
            nonlocal clock, url
            if clock >= W:
                return False
            row = (self.ids.hex("web", "w", bits=40), self.ts_default(clock), anon, uid, event, page,
                   url if referrer is None else referrer, *utm, device)
            rows.append((clock, row))
            url = page
            clock += rng.randint(8, 150)
            return True

        hit("page_view", url, ref, (src, med, camp))
        if rng.random() < 0.15:
            hit("search", f"{SHOP}/search?q={rng.choice(_SEARCH_TERMS).replace(' ', '+')}")
        views = rng.randint(1, 4) if kind == "buy" else rng.choice((0, 1, 1, 2, 3, 4))
        for _ in range(views):
            hit("product_view", f"{SHOP}/products/{self.products[rng.randrange(len(self.products))][0].lower()}")
        if has_account and not uid and kind == "browse" and rng.random() < 0.5:
            uid = p.user_id
            cookie[2] = cookie[2] if cookie[2] is not None else clock
            hit("login", f"{SHOP}/account/login")
        elif p.account_t is None and kind == "browse" and self.intends_account and rng.random() < 0.25:
            self._create_account(p, clock)
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
                elif p.account_t is None and self.intends_account:
                    self._create_account(p, clock)
                    uid, cookie[2] = p.user_id, clock
                    hit("signup", f"{SHOP}/account/register?next=/checkout")
            order_t = clock
            bought = hit("purchase", f"{SHOP}/checkout/confirmation")
            if bought and not uid and p.account_t is None and rng.random() < 0.4:
                # "create an account to track your order" on the confirmation page
                self._create_account(p, clock)
                uid, cookie[2] = p.user_id, clock
                hit("signup", f"{SHOP}/account/register?from=order", f"{SHOP}/checkout/confirmation")
        for when, row in rows:
            self.add(WEB, when, row, duplicable=True)
        if bought:
            self._order(p, order_t, "web", uid)

    def _device(self, p: _Person) -> list:
        rng = self.rng
        if not p.devices or (len(p.devices) < 2 and rng.random() < 0.05):
            os_ = "ios" if rng.random() < 0.55 else "android"
            p.devices.append([self.ids.hex("device", bits=64, upper=os_ == "ios"), os_, None, False])
        return p.devices[0] if rng.random() < 0.8 else p.devices[-1]

    def _app_session(self, p: _Person, t: int, kind: str, channel: str, campaign: str | None) -> None:
        """One app session; device local time with its UTC offset; buying in the app needs an account."""
        rng, W = self.rng, self.W
        dev = self._device(p)
        device_id, os_ = dev[0], dev[1]
        has_account = p.account_t is not None and p.account_t <= t
        uid = p.user_id if has_account and dev[2] is not None and dev[2] <= t else ""
        rows: list[tuple[int, tuple]] = []
        clock = t

        def hit(event: str, screen: str, camp: str = "") -> bool:
            nonlocal clock
            if clock >= W:
                return False
            stamp = self.ts_offset(clock, p.tz) if rng.random() >= 0.1 else self.ts_z(clock)
            rows.append((clock, (self.ids.hex("app", "a", bits=40), stamp, device_id, uid, event, screen, camp, os_)))
            clock += rng.randint(5, 90)
            return True

        if channel == "push":
            hit("push_open", "home", f"push-{self.day_str[t // 86400 + 2]}")
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
                    self._create_account(p, clock)
                uid = p.user_id
                dev[2] = clock
                hit("login", "account")
            order_t = clock
            bought = bool(uid) and hit("purchase", "order_confirmation")
        for when, row in rows:
            self.add(APP, when, row, duplicable=True)
        if bought:
            self._order(p, order_t, "app", uid)

    # ---------------------------------------------------------------------------------------------- commerce
    def _order(self, p: _Person, t: int, channel: str, uid: str) -> None:
        """An order and its status history: one row per status change, each with a later order_updated_at."""
        rng, r, W = self.rng, self.r, self.W
        p.customer = True
        oid = self.ids.dec("order", "O", 7, 8)
        n = rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
        items = [self.products[rng.randrange(len(self.products))] for _ in range(n)]
        cents = sum(price for _, price in items)
        cents += 599 if cents < 5000 else 0
        currency = rng.choice(("EUR", "GBP")) if rng.random() < r.non_usd else "USD"
        email = self.typed_email(self.email_of(p, t))
        phone = self.given_phone(p, ORD) if rng.random() < 0.75 else ""
        first, last = self.typed_name(p)
        address = self.typed_address(self.addr_of(p, t))
        self.crm_events.append((t + 5, "order", (email, phone, (first, last), address)))
        versions = [("placed", t)]
        if rng.random() < r.order_cancel * 0.6:
            versions.append(("cancelled", t + rng.randint(600, 36000)))
        else:
            paid = t + rng.randint(20, 900)
            shipped = paid + rng.randint(43200, 259200)
            delivered = shipped + rng.randint(86400, 345600)
            versions += [("paid", paid), ("shipped", shipped), ("delivered", delivered)]
            if rng.random() < r.order_cancel * 0.4:
                versions[2:] = [("cancelled", paid + rng.randint(600, 20000))]
            elif rng.random() < r.order_return:
                versions.append(("returned", delivered + rng.randint(2 * 86400, 14 * 86400)))
        placed_text = self.ts_naive(t, "T") if rng.random() < r.naive_timestamp else self.ts_millis(t)
        amount = _money(cents)
        delivered_t = None
        returned = False
        for status, when in versions:
            if when >= W:
                break
            placed_at = placed_text if status == "placed" or rng.random() >= 0.1 else ""
            if status == "placed":
                stamp = placed_text
            else:
                stamp = self.ts_naive(when, "T") if rng.random() < r.naive_timestamp else self.ts_millis(when)
            self.add(ORD, when, (oid, stamp, placed_at, uid, email, phone, first, last, *address, status, amount,
                                 currency, channel))
            if status == "shipped":
                self._email_event(when + 120, email.strip(), "txn-shipping-update", "sent")
            elif status == "delivered":
                delivered_t = when
            elif status == "returned":
                returned = True
        if t + 30 < W:
            self._email_event(t + 30, email.strip(), "txn-order-confirmation", "sent")
            if rng.random() < 0.5 and t + 600 < W:
                self._email_event(t + rng.randint(120, 36000), email.strip(), "txn-order-confirmation", "open")
        if delivered_t is not None and rng.random() < 0.18:
            self._review(p, delivered_t + rng.randint(86400, 10 * 86400), items[0][0], email, uid)
        if returned and rng.random() < 0.4:
            self._ticket(p, delivered_t + rng.randint(86400, 5 * 86400), "returns")
        elif rng.random() < 0.08:
            category = rng.choice(("delivery", "delivery", "billing", "product"))
            self._ticket(p, t + rng.randint(3600, 10 * 86400), category)

    def _store_visit(self, p: _Person, t: int, join: bool) -> None:
        """A store purchase; the first visit of a loyalty member signs them up (staff type the details)."""
        rng, r = self.rng, self.r
        p.customer = True
        if join and not p.loyalty_id:
            p.loyalty_id = self.ids.dec("loyalty", "LY", 8, 1)
            if rng.random() < r.staff_placeholder:
                email = PLACEHOLDER_EMAILS[0] if rng.random() < 0.85 else PLACEHOLDER_EMAILS[1]
            else:
                email = self.typed_email(self.email_of(p, t))
            phone = self.given_phone(p, CRM, staff=True)
            birth = self.typed_birth(p, us_format=rng.random() < 0.3) if rng.random() < 0.8 else ""
            address = self.typed_address(self.addr_of(p, t)) if rng.random() < 0.7 else None
            consent = "true" if self.subscribes and rng.random() < 0.5 else rng.choice(("false", ""))
            self.crm_events.append((t + 120, "loyalty", (p.loyalty_id, self.typed_name(p), phone, birth, address,
                                                          email, consent)))
            if consent == "true" and p.sub_t is None and "@example.com" not in email and "@" in email:
                p.sub_t = t + 120
        presented = bool(p.loyalty_id) and rng.random() < 0.8
        phone = self.given_phone(p, POS, staff=True) if rng.random() < (0.2 if presented else 0.55) else ""
        n = rng.choices((1, 2, 3, 4, 5), (40, 25, 15, 12, 8))[0]
        cents = sum(self.products[rng.randrange(len(self.products))][1] for _ in range(n))
        stamp = self.ts_naive(t) if rng.random() < 0.3 else self.ts_offset(t, 0)
        store = p.store_id if rng.random() < 0.9 else rng.choice(self.stores[_CITIES[rng.randrange(len(_CITIES))][0]])
        loyalty = p.loyalty_id if presented else ""
        row = (self.ids.hex("pos", "T", bits=40), stamp, store, loyalty, phone, _money(cents), "USD", str(n))
        self.add(POS, t, row, duplicable=True)

    def _review(self, p: _Person, t: int, sku: str, order_email: str, uid: str) -> None:
        rng = self.rng
        if t >= self.W:
            return
        platform = rng.choices(("website", "app_store", "google", "trustpilot"), (45, 15, 10, 30))[0]
        if platform == "app_store" and not p.devices:
            platform = "website"
        email = self.typed_email(self.email_of(p, t)) if platform in ("website", "trustpilot") else ""
        user = (uid or p.user_id) if platform in ("website", "app_store") and p.user_id else ""
        stamp = self.ts_default(t) if platform != "google" else self.day_str[t // 86400 + 2]
        rating = str(rng.choices((1, 2, 3, 4, 5), (5, 7, 13, 30, 45))[0])
        self.add(REV, t, (self.ids.dec("review", "RV", 6, 4), stamp, email, user, platform, rating, sku))

    def _ticket(self, p: _Person, t: int, category: str) -> None:
        rng = self.rng
        if t >= self.W:
            return
        channel = rng.choices(("email", "chat", "phone", "store"), (40, 25, 25, 10))[0]
        if channel in ("email", "chat"):
            email = self.typed_email(self.email_of(p, t))
            phone = self.given_phone(p, SUP) if rng.random() < 0.2 else ""
        else:
            roll = rng.random()
            if roll < 0.3:
                email = self.typed_email(self.email_of(p, t))
            elif roll < 0.55:
                email = PLACEHOLDER_EMAILS[0] if rng.random() < 0.6 else PLACEHOLDER_EMAILS[1]
            else:
                email = ""
            phone = self.given_phone(p, SUP, staff=True) if channel == "phone" or rng.random() < 0.5 else ""
        closed, score = "", ""
        if rng.random() < 0.85:
            end = t + rng.randint(1800, 5 * 86400)
            if end < self.W:
                closed = self.ts_default(end)
                if rng.random() < 0.6:
                    score = str(rng.choices((1, 2, 3, 4, 5), (10, 10, 20, 30, 30))[0])
        opened = self.ts_offset(t, p.tz) if rng.random() < 0.2 else self.ts_default(t)
        self.add(SUP, t, (self.ids.dec("ticket", "TK", 6, 4), opened, closed, email, phone, channel, category, score))

    # ---------------------------------------------------------------------------------------------- email
    def _email_event(self, t: int, email: str, campaign: str, event: str, link: str = "") -> None:
        if t < self.W:
            self.add(EML, t, (self.ids.hex("email", "e", bits=40), self.ts_default(t), email, campaign, event, link),
                     duplicable=True)

    def _newsletters(self, p: _Person) -> None:
        """Weekly newsletters from the subscription on: sends, opens, clicks (which start web visits), unsubscribes."""
        rng, r, W = self.rng, self.r, self.W
        listed = self.email_of(p, p.sub_t)
        listed = listed.lower() if rng.random() < 0.8 else self.typed_email(listed)
        token = self.ids.hex("subscriber", bits=40)  # the ESP's subscriber id, appended to every link
        for when, campaign in self.campaigns:
            if when < p.sub_t or rng.random() > 0.7:
                continue
            if p.email_change_t is not None and when >= p.email_change_t and rng.random() < 0.7:
                listed = p.new_email
            sent = when + rng.randrange(1800)
            self._email_event(sent, listed, campaign, "sent")
            if rng.random() < 0.02:
                self._email_event(sent + rng.randint(5, 600), listed, campaign, "bounce")
                continue
            if rng.random() < 0.5:
                self._email_event(sent + rng.randint(2, 60), listed, campaign, "delivered")
            if rng.random() >= 0.35:
                continue
            opened = sent + 60 + int(rng.expovariate(1 / (5 * 3600)))
            if opened >= W:
                continue
            self._email_event(opened, listed, campaign, "open")
            if rng.random() < 0.4:
                clicked = opened + rng.randint(5, 300)
                link = (f"{SHOP}/collections/{rng.choice(_CATEGORIES)}?utm_source=newsletter&utm_medium=email"
                        f"&utm_campaign={campaign}&mc_eid={token}")
                self._email_event(clicked, listed, campaign, "click", link)
                if clicked + 3 < W:
                    self.click_sessions.append((clicked + 3, campaign, link))
            elif rng.random() < r.unsubscribe:
                gone = opened + rng.randint(10, 600)
                if gone < W:
                    self._email_event(gone, listed, campaign, "unsubscribe")
                    self.crm_events.append((gone, "unsubscribe", None))
                    break

    # ---------------------------------------------------------------------------------------------- CRM
    def _crm_flush(self, p: _Person) -> None:
        """Fold the person's CRM changes, in time order, into contacts and one exported row per version."""
        rng, r = self.rng, self.r
        events = sorted(enumerate(self.crm_events), key=lambda e: (e[1][0], e[0]))
        main: list | None = None
        for _, (t, kind, data) in events:
            if kind == "disconnected":
                first, last = p.first, p.last
                if p.nicks and rng.random() < 0.6:
                    first = rng.choice(p.nicks)
                elif rng.random() < 0.5:
                    first = self._typo(first)
                if rng.random() < 0.2:
                    last = self._typo(last)
                p.old_email = self._unique_email(first, last)
                p.old_phone = self._unique_phone(_CITIES[p.addr[6]][2])
                values = [first, last, self.typed_email(p.old_email), self.typed_phone(p.old_phone, CRM),
                          self.typed_birth(p), *self.typed_address(self.addr_of(p, t)), "", "", ""]
                self._crm_emit(p, self._new_contact(p), values, t)
                continue
            if kind == "loyalty" and main is not None and rng.random() < r.crm_store_duplicate:
                self._crm_emit(p, self._new_contact(p), self._crm_apply(p, [""] * 12, kind, data, t), t)
                continue
            if main is None:
                if kind in ("unsubscribe", "move", "email_change"):
                    continue
                main = self._new_contact(p)
                values = self._crm_apply(p, [""] * 12, kind, data, t)
            else:
                values = self._crm_apply(p, list(main[2]), kind, data, t)
                if values == main[2]:
                    continue
            self._crm_emit(p, main, values, t)

    def _new_contact(self, p: _Person) -> list:
        cid = self.ids.dec("contact", "C", 6, 3)
        p.contacts.append(cid)
        return [cid, -1, None]

    def _crm_apply(self, p: _Person, v: list, kind: str, data, t: int) -> list:
        """Apply one change to contact values (first, last, email, phone, birth, street, city, postcode, country,
        loyalty_id, marketing_consent, personalization_consent); new data fills blanks, changes overwrite."""
        rng = self.rng

        def fill(i: int, value: str) -> None:
            if not v[i] and value:
                v[i] = value

        if kind == "subscribe":
            fill(2, data or self.typed_email(self.email_of(p, t)))
            v[10] = "true"
        elif kind == "signup":
            email, (first, last), birth = data
            fill(2, email)
            fill(0, first)
            fill(1, last)
            fill(4, birth)
            fill(10, "false")
            fill(11, rng.choices(("true", "false", ""), (60, 20, 20))[0])
        elif kind == "order":
            email, phone, (first, last), address = data
            fill(2, email)
            fill(0, first)
            fill(1, last)
            fill(3, phone)
            if not v[5]:
                v[5:9] = address
        elif kind == "loyalty":
            loyalty_id, (first, last), phone, birth, address, email, consent = data
            v[9] = loyalty_id
            fill(0, first)
            fill(1, last)
            if email in PLACEHOLDER_EMAILS and rng.random() < 0.5:
                v[2] = email  # the store system's sync overwrites a good email with the staff's placeholder
            fill(2, email)
            fill(3, phone)
            fill(4, birth)
            if address and not v[5]:
                v[5:9] = address
            fill(10, consent)
        elif kind == "unsubscribe":
            v[10] = "false"
        elif kind == "move":
            v[5:9] = self.typed_address(p.new_addr)
        elif kind == "email_change":
            v[2] = self.typed_email(p.new_email)
        if v[11] and rng.random() < 0.03:
            v[11] = "false" if v[11] == "true" else "true"
        return v

    def _crm_emit(self, p: _Person, contact: list, values: list, t: int) -> None:
        rng = self.rng
        when = min(max(t + rng.randint(30, 900), contact[1] + 1), self.W - 1)
        contact[1], contact[2] = when, values
        stamp = self.ts_naive(when) if rng.random() < 0.5 else self.ts_z(when)
        self.add(CRM, when, (contact[0], stamp, *values))

    # ---------------------------------------------------------------------------------------------- truth
    @staticmethod
    def _canonical_address(addr: tuple | None) -> tuple[str, str, str]:
        if addr is None:
            return "", "", ""
        number, street, type_i, unit, city, zipcode, _ = addr
        return f"{number} {street} {_STREET_TYPES[type_i][0]}" + (f", Apt {unit}" if unit else ""), city, zipcode

    def _truth_row(self, p: _Person) -> tuple:
        street, city, zipcode = self._canonical_address(p.addr)
        new_street, new_city, new_zip = self._canonical_address(p.new_addr)
        return (
            p.pid, p.hh, p.first, p.last, "|".join(p.nicks), p.email, p.new_email,
            self.ts_z(p.email_change_t) if p.email_change_t is not None else "", p.old_email,
            f"+1{p.phone}", f"+1{p.landline}" if p.landline else "", f"+1{p.old_phone}" if p.old_phone else "",
            p.birth.isoformat(), street, city, zipcode, "US",
            self.ts_z(p.move_t) if p.move_t is not None else "", new_street, new_city, new_zip,
            p.user_id, p.loyalty_id, "|".join(p.contacts), "|".join(c[0] for c in p.cookies),
            "|".join(d[0] for d in p.devices), "true" if p.customer else "false",
            "true" if p.sub_t is not None else "false",
        )


PEOPLE_COLUMNS = (
    "person_id", "household_id", "first_name", "last_name", "nicknames", "email", "new_email", "email_changed_at",
    "old_email", "phone", "home_phone", "old_phone", "birth_date", "street", "city", "postcode", "country",
    "moved_at", "new_street", "new_city", "new_postcode", "user_id", "loyalty_id", "crm_contact_ids",
    "anonymous_ids", "device_ids", "is_customer", "is_subscriber",
)
RECORD_COLUMNS = ("source", "record_key", "person_id")


# --------------------------------------------------------------------------------------------------------------
# Writers
def _gzip_text(raw) -> io.TextIOWrapper:
    """A UTF-8 text stream into a gzip member with a fixed header (no name, mtime 0)."""
    return io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6),
                            encoding="utf-8", newline="")


def _append_rows(path: Path, source: str, rows: list[tuple]) -> None:
    """Append rows to a landing file in the source's format, writing the header when the file is new."""
    columns = SOURCES[source].columns
    ext = FORMATS[source]
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext in ("jsonl", "jsonl.gz"):
        lines = (
            json.dumps(dict(zip(columns, (v if v != "" else None for v in row), strict=True)),
                       ensure_ascii=False, separators=(",", ":")) + "\n"
            for row in rows
        )
        if ext == "jsonl.gz":
            with open(path, "ab") as raw, _gzip_text(raw) as text:
                text.writelines(lines)
        else:
            with open(path, "a", encoding="utf-8", newline="") as text:
                text.writelines(lines)
        return
    terminator = "\r\n" if source == "crm_contacts" else "\n"
    if ext == "csv.gz":
        with open(path, "ab") as raw, _gzip_text(raw) as text:
            writer = csv.writer(text, lineterminator=terminator)
            if new:
                writer.writerow(columns)
            writer.writerows(rows)
        return
    with open(path, "a", encoding="utf-8", newline="") as text:
        writer = csv.writer(text, lineterminator=terminator)
        if new:
            writer.writerow(columns)
        writer.writerows(rows)


def _write_parquet(path: Path, source: str, rows: list[tuple]) -> None:
    columns = SOURCES[source].columns
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = [pa.array([row[i] or None for row in rows], type=pa.string()) for i in range(len(columns))]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    pq.write_table(table, path, compression="zstd")


class _Run(_Generator):
    """Drives the chunks, the files and the truth."""

    def landing_path(self, source: str, export: int) -> Path:
        day = self.day_str[export + 2]
        return self.out / "landing" / source / day / f"{source}_{day}.{FORMATS[source]}"

    def write_source(self, src: int, items: list[tuple], records) -> None:
        source = _SOURCE_NAMES[src]
        items.sort(key=lambda x: (x[0], x[1]))
        seen: set[str] = set()
        truth: list[tuple[str, str, str]] = []
        start = 0
        while start < len(items):
            export = items[start][0]
            end = start
            while end < len(items) and items[end][0] == export:
                end += 1
            group = items[start:end]
            path = self.landing_path(source, export)
            rows = [item[3] for item in group]
            if src == POS:
                _write_parquet(path, source, rows)
            else:
                _append_rows(path, source, rows)
            self.file_rows[path] = self.file_rows.get(path, 0) + len(rows)
            self.file_source[path] = (source, export)
            for item in group:
                key = item[3][0]
                if key and key not in seen:
                    seen.add(key)
                    truth.append((source, key, item[2]))
            start = end
        records.writerows(truth)
        self.stats.truth_records += len(truth)

    def redeliver(self) -> None:
        """Copy some files byte for byte under another name: one in the same folder, one in a later folder."""
        rng = Random(f"redelivery:{self.seed}")
        files = sorted(self.file_rows, key=str)
        if not files:
            return
        picks: list[tuple[Path, bool]] = []
        earlier = [f for f in files if self.file_source[f][1] < self.days]
        if self.r.file_redelivery > 0:
            picks.append((rng.choice(files), False))
            if earlier:
                picks.append((rng.choice(earlier), True))
        picks += [(f, rng.random() < 0.5) for f in files if rng.random() < self.r.file_redelivery]
        for path, later in picks:
            source, export = self.file_source[path]
            day = self.day_str[export + 2]
            if later and export < self.days:
                target_day = self.day_str[min(export + rng.randint(1, 3), self.days) + 2]
                target = self.out / "landing" / source / target_day / f"{source}_{day}_redelivered.{FORMATS[source]}"
            else:
                target = path.with_name(f"{source}_{day}_resent.{FORMATS[source]}")
            if target.exists():
                continue
            shutil.copyfile(path, target)
            self.file_rows[target] = self.file_rows[path]
            self.file_source[target] = (source, export)
            self.stats.redelivered.append(str(target.relative_to(self.out)))

    def run(self) -> GenerateStats:
        truth_dir = self.out / "truth"
        truth_dir.mkdir(parents=True, exist_ok=True)
        self.file_source: dict[Path, tuple[str, int]] = {}
        with (
            open(truth_dir / "records.csv.gz", "wb") as records_raw, _gzip_text(records_raw) as records_text,
            open(truth_dir / "people.csv.gz", "wb") as people_raw, _gzip_text(people_raw) as people_text,
        ):
            records = csv.writer(records_text, lineterminator="\n")
            people_out = csv.writer(people_text, lineterminator="\n")
            records.writerow(RECORD_COLUMNS)
            people_out.writerow(PEOPLE_COLUMNS)
            for chunk, first in enumerate(range(0, self.people, CHUNK_PEOPLE)):
                self.rng = Random(f"journey-generator:{self.seed}:{chunk}")
                self.buf: list[list[tuple]] = [[] for _ in range(8)]
                people = self._make_people(first, min(CHUNK_PEOPLE, self.people - first))
                truth_people = []
                for p in people:
                    self.pid = p.pid
                    self.simulate(p)
                    truth_people.append(self._truth_row(p))
                people_out.writerows(truth_people)
                for src in range(8):
                    if src != POS:
                        self.write_source(src, self.buf[src], records)
                self.buf = []
            self.write_source(POS, self.pos_rows, records)
        self.redeliver()
        for path, (source, _) in self.file_source.items():
            self.stats.files[source] = self.stats.files.get(source, 0) + 1
            self.stats.rows[source] = self.stats.rows.get(source, 0) + self.file_rows[path]
        return self.stats


def generate(out: Path, people: int, days: int, seed: int, start: date = date(2026, 9, 1),
             rates: MessRates | None = None) -> GenerateStats:
    """Write `people` simulated customers' exports to out/landing and the truth to out/truth (deterministic).

    Existing landing and truth folders under `out` are replaced, so reruns give byte-identical output.
    """
    if people < 1 or days < 2:
        raise ValueError(f"need at least 1 person and 2 days (got people={people}, days={days})")
    for name, columns in _EXPECTED_COLUMNS.items():
        if SOURCES[name].columns != columns:
            raise RuntimeError(f"contract columns of {name} changed; update orchestration/lib/generate.py to match")
    out = Path(out)
    for sub in ("landing", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    return _Run(out, people, days, seed, start, rates or MessRates()).run()
