"""The mess: how people's details get written down differently, and how rows and files go astray.

Values (as people, staff and systems type them): `typed_email`, `typed_phone`, `given_phone`, `typed_name`,
`typed_address`, `typed_birth` and the placeholders staff type when a customer gives nothing.
Rows: `InvalidRows` (malformed rows), `export_day` (late rows), `duplicate_export_day` (rows sent twice).
Files: `redeliver` (byte copies of whole files under another name).
Mess that is a habit of one system (CRM versions, store sign-ups creating a second contact, a disconnected
contact) lives with that system in `sources/`; these are its rates too.

Default rates of `MessRates` (per record unless stated; pass `rates=` to `generate` to change them):

    email_variant        0.08   email with case/whitespace variants (' John.Doe@Example.COM ', upper case)
    phone_other_format   0.35   phone in another US format than the system's usual one: '+1 415-555-0134',
                                '(415) 555-0134', '415.555.0134', '4155550134', '1-415-555-0134', ...
    nickname             0.10   nickname instead of the first name, where one exists (Robert/Bob, ...)
    name_typo            0.03   one-letter typo or a dropped accent (García/Garcia); 1% upper-cased
    name_swap            0.02   first and last name swapped
    name_error           0.06   per name (first and last apart): a typing error of the kinds the GeCo/FEBRL
                                benchmark generators make, one per name: keyboard neighbour 35%, OCR
                                confusion 15% (rn/m, l/1/i, o/0, cl/d), phonetic variant 20% (ph/f, c/k,
                                y/i, double letters single ...), inserted letter 10%, deleted letter 10%,
                                transposed letters 10%
    birth_date_error     0.04   a birth date with one digit mistyped (keyboard neighbour) or two neighbouring
                                digits transposed (a valid date: 1980-03-14 -> 1980-03-41 is typed again)
    postcode_error       0.03   a postcode with one digit mistyped or two neighbouring digits transposed
    house_number_error   0.02   a house number with one digit mistyped, dropped or two digits transposed
    field_missing        0.03   per record: birth date (where asked) or postcode left empty
    twins                0.03   households of 2+ whose second member is a twin of the first (same birth date,
                                address and surname; another first name)
    namesake_junior      0.01   households of 2+ whose second member has the first's full name (a father and
                                son, "Jr."), with another birth date. A guess: about 3% of US men carry a "Jr.",
                                fewer live with their father and fewer still are both customers. The hardest
                                case for fuzzy matching (docs/identity.md): at 0.03 it costs precision
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

The typing errors (`name_error` to `field_missing`) and the twins and namesakes draw from a stream of their
own (`World.noise_rng`), so setting them to 0 leaves every other value as it is.

The links real exports carry (optional contract columns) and their gaps, drawn from a random stream of their
own (`World.links_rng`), so switching them off or changing them leaves every other value as it was:

    order_id_on_purchase 0.96   web purchase events carrying the order id (e-commerce tracking)
    order_id_stale       0.003  purchase events carrying the previous web order's id instead (a cached
                                confirmation page): another person's order, stopped by the one-browser guard
    subscriber_stripped  0.12   newsletter landings whose URL lost the subscriber parameter (mail clients'
                                link protection, redirects); the ESP's own click log keeps it
    subscriber_unrendered 0.02  newsletter clicks whose link carries the unrendered merge tag '*|UNIQID|*'
                                (a segment sent from a broken template): shared by everyone who clicked it
    account_id_sync_lag  0.15   account holders whose CRM contact gets the account id only 1-10 days after
                                the sign-up (versions before that lack it); store and disconnected contacts
                                never carry one
    account_id_shared    0.005  main CRM contact versions of people without an account that carry the sync
                                job's own account 'U-IMPORT' (shared by many contacts: blocked by count)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from random import Random
from typing import TYPE_CHECKING

from generator.people import STREET_TYPES, Address, Person, ascii_text
from rules.contract import SOURCES

if TYPE_CHECKING:
    from generator.world import World
    from generator.writers import Landing

PLACEHOLDER_EMAILS = ("noemail@example.com", "unknown")
PLACEHOLDER_PHONES = ("0000000000", "unknown")
UNRENDERED_SUBSCRIBER = "*|UNIQID|*"  # a merge tag the ESP failed to fill in
SHARED_ACCOUNT = "U-IMPORT"  # the CRM sync job's own shop account


@dataclass(frozen=True)
class MessRates:
    """How often each kind of mess occurs (see the module docstring)."""

    email_variant: float = 0.08
    phone_other_format: float = 0.35
    nickname: float = 0.10
    name_typo: float = 0.03
    name_swap: float = 0.02
    name_error: float = 0.06
    birth_date_error: float = 0.04
    postcode_error: float = 0.03
    house_number_error: float = 0.02
    field_missing: float = 0.03
    twins: float = 0.03
    namesake_junior: float = 0.01
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
    order_id_on_purchase: float = 0.96
    order_id_stale: float = 0.003
    subscriber_stripped: float = 0.12
    subscriber_unrendered: float = 0.02
    account_id_sync_lag: float = 0.15
    account_id_shared: float = 0.005


# ---------------------------------------------------------------------------------------------- values as typed
# The phone format each system usually writes (a style of `format_phone`).
_PHONE_STYLE = {"orders": 5, "pos_transactions": 3, "crm_contacts": 0, "support_tickets": 1}


def format_phone(digits: str, style: int) -> str:
    """Ten digits in one of seven US formats (style 0-6); anything else as it is."""
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


def typed_email(w: World, email: str) -> str:
    rng = w.rng
    if rng.random() >= w.rates.email_variant or "@" not in email:
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


def typed_phone(w: World, digits: str, source: str) -> str:
    if digits in PLACEHOLDER_PHONES:
        return digits
    style = _PHONE_STYLE[source]
    if w.rng.random() < w.rates.phone_other_format:
        style = w.rng.randrange(7)
    return format_phone(digits, style)


def given_phone(w: World, p: Person, source: str, staff: bool = False) -> str:
    """The phone a person gives: a quarter of household members give the landline; staff type placeholders."""
    rng = w.rng
    if staff and rng.random() < w.rates.placeholder_phone:
        return rng.choice(PLACEHOLDER_PHONES)
    digits = p.landline if p.landline and rng.random() < 0.25 else p.phone
    return typed_phone(w, digits, source)


def typo(w: World, name: str) -> str:
    """The name without its accents, or with one letter swapped, dropped, doubled or replaced."""
    rng = w.rng
    plain = ascii_text(name)
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


def typed_name(w: World, p: Person) -> tuple[str, str]:
    rng, r = w.rng, w.rates
    first, last = p.first, p.last
    if p.nicks and rng.random() < r.nickname:
        first = rng.choice(p.nicks)
    if rng.random() < r.name_typo:
        if rng.random() < 0.5:
            first = typo(w, first)
        else:
            last = typo(w, last)
    if rng.random() < 0.01:
        first, last = first.upper(), last.upper()
    if rng.random() < r.name_swap:
        first, last = last, first
    return name_error(w, first), name_error(w, last)


# Typing errors in the style of the GeCo/FEBRL benchmark generators (Christen & Vatsalan 2013): keys next to
# each other on a QWERTY keyboard, characters OCR confuses, and spellings that sound alike.
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEYBOARD_NEIGHBOURS: dict[str, str] = {}
for _row_index, _row in enumerate(_KEYBOARD_ROWS):
    for _i, _key in enumerate(_row):
        _near = _row[max(_i - 1, 0):_i] + _row[_i + 1:_i + 2]
        for _other_index in (_row_index - 1, _row_index + 1):
            if 0 <= _other_index < len(_KEYBOARD_ROWS):
                _near += _KEYBOARD_ROWS[_other_index][_i:_i + 1]
        _KEYBOARD_NEIGHBOURS[_key] = _near.replace(_key, "")
_OCR_CONFUSIONS = (("rn", "m"), ("m", "rn"), ("l", "1"), ("i", "l"), ("o", "0"), ("cl", "d"), ("d", "cl"),
                   ("vv", "w"), ("e", "c"), ("h", "b"), ("u", "v"), ("n", "h"))
_PHONETIC_VARIANTS = (("ph", "f"), ("f", "ph"), ("ck", "k"), ("c", "k"), ("k", "c"), ("y", "i"), ("i", "y"),
                      ("ie", "y"), ("ei", "ie"), ("ou", "ow"), ("z", "s"), ("s", "z"), ("th", "t"),
                      ("ll", "l"), ("tt", "t"), ("nn", "n"), ("mm", "m"), ("ss", "s"), ("rr", "r"), ("ee", "ea"),
                      ("ea", "ee"), ("son", "sen"), ("sen", "son"), ("man", "mann"), ("er", "a"))


def _replace_one(rng: Random, text: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """text with one occurrence of one of the pairs' first strings replaced by its second, or None."""
    lower = text.lower()
    found = [(i, old, new) for old, new in pairs for i in range(len(lower)) if lower.startswith(old, i)]
    if not found:
        return None
    i, old, new = rng.choice(found)
    if text[i:i + len(old)].isupper():
        new = new.upper()
    elif text[i].isupper():
        new = new[:1].upper() + new[1:]
    return text[:i] + new + text[i + len(old):]


def misspell(rng: Random, name: str) -> str:
    """The name with one error of the kinds and shares listed at `name_error`."""
    if len(name) < 3:
        return name
    kind = rng.choices(("keyboard", "ocr", "phonetic", "insert", "delete", "transpose"), (35, 15, 20, 10, 10, 10))[0]
    i = rng.randrange(1, len(name) - 1)  # people rarely get the first letter wrong
    if kind == "ocr":
        changed = _replace_one(rng, name, _OCR_CONFUSIONS)
        if changed is not None:
            return changed
        kind = "keyboard"
    if kind == "phonetic":
        changed = _replace_one(rng, name, _PHONETIC_VARIANTS)
        if changed is not None:
            return changed
        kind = "keyboard"
    if kind == "keyboard":
        near = "".join(c for c in _KEYBOARD_NEIGHBOURS.get(name[i].lower(), "") if c.isalpha())
        if not near:
            return name[:i] + name[i + 1:]
        key = rng.choice(near)
        return name[:i] + (key.upper() if name[i].isupper() else key) + name[i + 1:]
    if kind == "insert":
        near = "".join(c for c in _KEYBOARD_NEIGHBOURS.get(name[i].lower(), "") if c.isalpha()) or name[i]
        return name[:i] + rng.choice(near + name[i]) + name[i:]
    if kind == "delete":
        return name[:i] + name[i + 1:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def name_error(w: World, name: str) -> str:
    return misspell(w.noise_rng, name) if name and w.noise_rng.random() < w.rates.name_error else name


def mistype_digits(rng: Random, digits: str) -> str:
    """The digit string with two neighbouring digits transposed (half the time, where they differ) or one digit
    replaced by a keyboard neighbour."""
    i = rng.randrange(len(digits))
    if len(digits) >= 2 and rng.random() < 0.5:
        i = min(i, len(digits) - 2)
        if digits[i] != digits[i + 1]:
            return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
    near = [c for c in _KEYBOARD_NEIGHBOURS[digits[i]] if c.isdigit()]
    return digits[:i] + rng.choice(near) + digits[i + 1:]


def birth_date_error(w: World, born: date) -> date:
    """The birth date as typed with one digit of the year, month or day wrong or two of its digits transposed
    (typed again until it is a valid date after 1900)."""
    rng = w.noise_rng
    if rng.random() >= w.rates.birth_date_error:
        return born
    fields = [f"{born.year:04d}", f"{born.month:02d}", f"{born.day:02d}"]
    for _ in range(20):
        typed = list(fields)
        field = rng.randrange(3)
        typed[field] = mistype_digits(rng, typed[field])
        try:
            value = date(int(typed[0]), int(typed[1]), int(typed[2]))
        except ValueError:
            continue
        if value.year > 1900:
            return value
    return born


def typed_address(w: World, addr: Address) -> tuple[str, str, str, str]:
    """street, city, postcode, country as one system writes them."""
    rng = w.rng
    number, street, type_i, unit, city, zipcode, _ = addr
    full, abbr = STREET_TYPES[type_i]
    kind = full
    unit_text = f", Apt {unit}" if unit else ""
    country = "US"
    if rng.random() < w.rates.address_variant:
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
    noise, r = w.noise_rng, w.rates
    if noise.random() < r.postcode_error:
        zipcode = mistype_digits(noise, zipcode[:5]) + zipcode[5:]
    if noise.random() < r.house_number_error:
        digits = str(number)
        if len(digits) >= 2 and noise.random() < 0.2:
            i = noise.randrange(len(digits))
            digits = digits[:i] + digits[i + 1:]
        else:
            digits = mistype_digits(noise, digits)
        number = int(digits.lstrip("0") or "1")
    if noise.random() < r.field_missing:
        zipcode = ""
    return f"{number} {street} {kind}{unit_text}", city, zipcode, country


def typed_birth(w: World, p: Person, us_format: bool = False) -> str:
    b = p.birth
    y, m, d = b.year, b.month, b.day
    if d <= 12 and d != m and w.rng.random() < w.rates.birth_date_swap:
        m, d = d, m
    if w.noise_rng.random() < w.rates.field_missing:
        return ""
    typed = birth_date_error(w, date(y, m, d))
    y, m, d = typed.year, typed.month, typed.day
    return f"{m:02d}/{d:02d}/{y}" if us_format else f"{y}-{m:02d}-{d:02d}"


# ---------------------------------------------------------------------------------------------- rows
_COMMON_KINDS = ("empty_key", "bad_timestamp")


def _invalid_kinds(source: str) -> list[str]:
    kinds = list(_COMMON_KINDS)
    if SOURCES[source].amount:
        kinds.append("negative_amount")
    if source == "reviews":
        kinds.append("bad_rating")
    return kinds


def corrupt(source: str, row: tuple, kind: str) -> tuple:
    """The row with one value broken: an empty key, 'not-a-date', a negative amount or rating 'five'."""
    contract = SOURCES[source]
    values = list(row)
    if kind == "empty_key":
        values[contract.columns.index(contract.key)] = ""
    elif kind == "bad_timestamp":
        values[contract.columns.index(contract.timestamp)] = "not-a-date"
    elif kind == "negative_amount":
        i = contract.columns.index(contract.amount)
        values[i] = "-" + values[i].lstrip("-")
    elif kind == "bad_rating":
        values[contract.columns.index("rating")] = "five"
    return tuple(values)


class InvalidRows:
    """Corrupts rows at the `invalid_row` rate; every kind a source allows shows up at least once, early,
    so that small samples show it too (source-specific kinds first, from each source's second row on)."""

    def __init__(self, rates: MessRates) -> None:
        self._rate = rates.invalid_row
        self._emitted: dict[str, int] = {}
        self._forced = {name: [k for k in _invalid_kinds(name) if k not in _COMMON_KINDS] + list(_COMMON_KINDS)
                        for name in SOURCES}

    def apply(self, rng: Random, source: str, row: tuple) -> tuple:
        emitted = self._emitted[source] = self._emitted.get(source, 0) + 1
        forced = self._forced[source]
        if forced and self._rate > 0 and emitted >= 2:
            return corrupt(source, row, forced.pop(0))
        if rng.random() < self._rate:
            return corrupt(source, row, rng.choice(_invalid_kinds(source)))
        return row


def export_day(rng: Random, rates: MessRates, t: int, days: int) -> int:
    """The export a row made at time t goes to: the next day's, or 2-6 days later when it is late."""
    export = t // 86400 + 1
    if rng.random() < rates.late_event:
        export += rng.randint(2, 6)
    return min(export, days)


def duplicate_export_day(rng: Random, rates: MessRates, export: int, days: int) -> int | None:
    """The export that carries a second copy of a row, if the row is sent twice: the same or the next one."""
    if rng.random() >= rates.event_duplicate:
        return None
    return min(export + 1, days) if rng.random() < rates.duplicate_next_day else export


# ---------------------------------------------------------------------------------------------- files
def redeliver(landing: Landing, rates: MessRates, seed: int, days: int) -> list[str]:
    """Copy some files byte for byte under another name: at least one in the same folder (`_resent`) and one
    in a folder 1-3 days later (`_redelivered`). Returns the copies' paths relative to the output folder."""
    rng = Random(f"redelivery:{seed}")
    files = sorted(landing.files, key=str)
    if not files:
        return []
    picks: list[tuple] = []
    earlier = [f for f in files if landing.files[f].export < days]
    if rates.file_redelivery > 0:
        picks.append((rng.choice(files), False))
        if earlier:
            picks.append((rng.choice(earlier), True))
    picks += [(f, rng.random() < 0.5) for f in files if rng.random() < rates.file_redelivery]
    copies: list[str] = []
    for path, later in picks:
        source, export = landing.files[path].source, landing.files[path].export
        if later and export < days:
            folder = min(export + rng.randint(1, 3), days)
            target = landing.folder(source, folder) / landing.name(source, export, "_redelivered")
        else:
            target = path.with_name(landing.name(source, export, "_resent"))
        if target.exists():
            continue
        landing.copy(path, target)
        copies.append(str(target.relative_to(landing.out)))
    return copies
