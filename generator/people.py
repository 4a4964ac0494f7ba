"""People and households: who the simulated customers are, before any system writes them down.

Each person gets a name (with the nicknames it allows), a unique email and mobile number, a birth date,
an address in one of twenty US cities and the store nearest to it. About a third live in households of 2-4
sharing the address, mostly the surname and sometimes a landline (never one first name twice, but for the
namesakes of `mess.namesake_junior`). Later in the run a person may move or
change email (`journeys.simulate` decides when); `email_of` and `addr_of` say which one they give at a time.
What the systems make of these details (typos, formats, placeholders) is in `mess.py`.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.world import World

FIRST_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
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
LAST_NAMES: tuple[str, ...] = (
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
STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln",
    "Jackson", "Highland", "Church", "Mill", "River", "Spring", "Ridge", "Valley", "Franklin", "Madison",
    "Jefferson", "Chestnut", "Walnut", "Willow", "Meadow", "Forest", "Broad", "Market", "Union", "Center",
    "Harbor", "Bay", "College", "Prospect", "Adams", "Grant", "Sherman", "Cherry", "Birch", "Dogwood",
)
STREET_TYPES = (  # full, abbreviated
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"), ("Drive", "Dr"), ("Lane", "Ln"),
    ("Court", "Ct"), ("Place", "Pl"), ("Way", "Wy"), ("Terrace", "Ter"),
)
# city, zip codes, area codes, UTC offset in September (hours)
CITIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int], ...] = (
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
EMAIL_DOMAINS = (
    ("gmail.com", 35), ("yahoo.com", 12), ("outlook.com", 10), ("hotmail.com", 8), ("icloud.com", 10),
    ("aol.com", 3), ("comcast.net", 4), ("proton.me", 3), ("acme-corp.com", 5), ("globex.com", 4),
    ("initech.io", 3), ("umbrella-health.org", 3),
)

# An address: (number, street, index into STREET_TYPES, unit or "", city, zip code, index into CITIES).
Address = tuple[int, str, int, str, str, str, int]


class Person:
    """One simulated customer: the clean truth, the traits that drive their journey, and what it left behind."""

    __slots__ = (
        "pid", "hh", "first", "last", "nicks", "email", "old_email", "new_email", "email_change_t",
        "phone", "landline", "old_phone", "birth", "addr", "new_addr", "move_t", "city", "tz", "store_id",
        "user_id", "account_t", "loyalty_id", "cookies", "devices", "contacts", "customer", "sub_t",
        "subscribes", "intends_account", "crm_events", "click_sessions",
    )

    def __init__(self) -> None:
        self.nicks: tuple[str, ...] = ()
        self.old_email = self.new_email = self.landline = self.old_phone = self.user_id = self.loyalty_id = ""
        self.email_change_t = self.move_t = self.account_t = self.sub_t = None
        self.new_addr: Address | None = None
        self.cookies: list[list] = []  # [anonymous_id, device type, time the site first remembered the login]
        self.devices: list[list] = []  # [device_id, os, time of the first login, app opened before]
        self.contacts: list[str] = []  # CRM contact ids
        self.customer = False
        self.subscribes = self.intends_account = False  # traits, set by journeys.simulate
        self.crm_events: list[tuple] = []  # (t, kind, data): changes the CRM folds into contacts, see crm_contacts
        self.click_sessions: list[tuple] = []  # (t, campaign, link): newsletter clicks that start a visit


def ascii_text(text: str) -> str:
    """The name without accents (García -> Garcia), as systems without Unicode store it."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def unique_email(w: World, first: str, last: str) -> str:
    rng = w.rng
    f, la = ascii_text(first).lower().replace(" ", ""), ascii_text(last).lower().replace(" ", "").replace("'", "")
    domain = rng.choices(EMAIL_DOMAINS, weights=[wt for _, wt in EMAIL_DOMAINS])[0][0]
    local = rng.choice((f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{la}.{f}", f"{f}{la[0]}"))
    email = f"{local}@{domain}"
    tries = 0
    while email in w.used_emails:
        tries += 1
        suffix = str(rng.randint(1, 99)) if tries < 4 else w.ids.hex("email_suffix", bits=24)
        email = f"{local}{suffix}@{domain}"
    w.used_emails.add(email)
    return email


def unique_phone(w: World, areas: tuple[str, ...]) -> str:
    """Ten digits in one of the city's area codes; never 555 or an N11 exchange."""
    rng = w.rng
    while True:
        exchange = rng.randint(201, 989)
        if exchange % 100 == 11 or exchange == 555:
            continue
        phone = f"{rng.choice(areas)}{exchange}{rng.randrange(10000):04d}"
        if phone not in w.used_phones:
            w.used_phones.add(phone)
            return phone


def address(w: World, city_i: int) -> Address:
    rng = w.rng
    city, zips, _, _ = CITIES[city_i]
    unit = ""
    if rng.random() < 0.25:
        unit = f"{rng.randint(1, 24)}{rng.choice('ABCD')}" if rng.random() < 0.5 else str(rng.randint(1, 420))
    return (rng.randint(1, 9899), rng.choice(STREETS), rng.randrange(len(STREET_TYPES)), unit, city,
            rng.choice(zips), city_i)


def make_people(w: World, first_idx: int, n: int) -> list[Person]:
    """People first_idx .. first_idx + n - 1, household by household (person ids P000000, household ids H...)."""
    rng, r = w.rng, w.rates
    people: list[Person] = []
    i = 0
    while i < n:
        size = 1
        if rng.random() < r.household:
            size = min(rng.choices((2, 3, 4), weights=(55, 30, 15))[0], n - i)
        city_i = rng.randrange(len(CITIES))
        addr = address(w, city_i)
        landline = ""
        if size > 1 and rng.random() < r.household_landline:
            landline = unique_phone(w, CITIES[city_i][2])
        head_last = rng.choice(LAST_NAMES)
        for j in range(size):
            p = Person()
            p.pid = f"P{first_idx + i + j:06d}"
            p.hh = f"H{first_idx + i:06d}"
            p.first, p.nicks = rng.choice(FIRST_NAMES)
            while any(other.first == p.first for other in people[len(people) - j:]):
                # parents do not give two children one name: the next name of the list with as many nicknames
                # (no random draw, so the rest of the run stays as it was)
                i_name = FIRST_NAMES.index((p.first, p.nicks))
                p.first, p.nicks = next(name for k in range(1, len(FIRST_NAMES))
                                        if len((name := FIRST_NAMES[(i_name + k) % len(FIRST_NAMES)])[1]) == len(p.nicks))
            p.last = head_last if j == 0 or rng.random() < 0.75 else rng.choice(LAST_NAMES)
            p.email = unique_email(w, p.first, p.last)
            p.phone = unique_phone(w, CITIES[city_i][2])
            p.landline = landline
            p.birth = date(1948, 1, 1) + timedelta(days=rng.randrange(365 * 58))
            p.addr = addr
            if j == 1 and p.last == people[-1].last:
                # drawn after every other value, from a stream of its own: at rate 0 nothing else changes
                kin = w.noise_rng.random()
                if kin < r.twins:
                    p.birth = people[-1].birth
                elif kin < r.twins + r.namesake_junior:
                    p.first, p.nicks = people[-1].first, people[-1].nicks
            p.city, p.tz = CITIES[city_i][0], CITIES[city_i][3]
            p.store_id = rng.choice(w.shop.stores[p.city])
            people.append(p)
        i += size
    return people


def email_of(w: World, p: Person, t: int) -> str:
    """The email the person gives at time t: after a change mostly the new one."""
    if p.email_change_t is not None and t >= p.email_change_t and w.rng.random() < 0.9:
        return p.new_email
    return p.email


def addr_of(p: Person, t: int) -> Address:
    return p.new_addr if p.move_t is not None and t >= p.move_t else p.addr
