"""crm_contacts: the CRM's contacts, one row per version (a change to any field gives a new updated_at).

During a person's journey other systems note changes for the CRM in `p.crm_events`, as (time, kind, data):

    signup        an account on the shop (web or app): email, name, sometimes a birth date (`sign_up`)
    subscribe     the newsletter: marketing_consent 'true' (and the email, if the contact has none)
    order         an order's email, phone, name and address fill the contact's blanks
    loyalty       a loyalty sign-up at the till: loyalty_id, details typed by staff (birth date as MM/DD/YYYY
                  from the store tablet, placeholders), consent; 40% create a second contact instead
    unsubscribe   marketing_consent 'false'
    move          the new address; email_change: the new email
    disconnected  a second contact sharing no identifier with the first (new email and phone, no loyalty id)

`flush` folds them, in time order, into contacts (contact_id C + digits) and exports each new version.
New data fills blanks, changes overwrite; rarely personalization_consent flips. Half the updated_at values
are written without an offset. The person's main contact carries the shop account id (optional column
account_id) once the shop's sync has sent it (mess.account_id_sync_lag); store duplicates and disconnected
contacts never do; a few contacts carry the sync job's own account (mess.account_id_shared).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import mess
from generator.people import CITIES, addr_of, email_of, unique_email, unique_phone

if TYPE_CHECKING:
    from generator.people import Person
    from generator.world import World

SOURCE = "crm_contacts"
COLUMNS = ("contact_id", "updated_at", "first_name", "last_name", "email", "phone", "birth_date", "street",
           "city", "postcode", "country", "loyalty_id", "marketing_consent",
           "personalization_consent", "account_id")  # the order of the row tuples below

# A contact while it is being built: [contact_id, updated_at of its last version (-1: none yet), its values]
Contact = list


def sign_up(w: World, p: Person, t: int) -> None:
    """An account on the shop (web or app): a user_id, and a sign-up the CRM records; some tick the newsletter."""
    p.user_id = w.ids.dec("user", "U", 7, 1)
    p.account_t = t
    birth = mess.typed_birth(w, p) if w.rng.random() < 0.35 else ""  # asked for a birthday voucher
    p.crm_events.append((t, "signup", (mess.typed_email(w, email_of(w, p, t)), mess.typed_name(w, p), birth)))
    if p.subscribes and p.sub_t is None and w.rng.random() < 0.6:
        p.sub_t = t + 5
        p.crm_events.append((p.sub_t, "subscribe", None))


def flush(w: World, p: Person) -> None:
    """Fold the person's CRM changes, in time order, into contacts and one exported row per version."""
    rng, r = w.rng, w.rates
    events = sorted(enumerate(p.crm_events), key=lambda e: (e[1][0], e[0]))
    links = w.links_rng
    synced_t = None  # when the shop's sync gives the main contact the account id
    if p.user_id and p.account_t is not None:
        synced_t = p.account_t + (links.randint(86400, 10 * 86400) if links.random() < r.account_id_sync_lag else 0)
    shared_account = not p.user_id and links.random() < r.account_id_shared * 10  # per person; ~1 version in 10
    main: Contact | None = None
    for _, (t, kind, data) in events:
        if kind == "disconnected":
            _disconnected(w, p, t)
            continue
        if kind == "loyalty" and main is not None and rng.random() < r.crm_store_duplicate:
            _emit(w, p, _new_contact(w, p), _apply(w, p, [""] * 12, kind, data, t), t, "")
            continue
        if main is None:
            if kind in ("unsubscribe", "move", "email_change"):
                continue
            main = _new_contact(w, p)
            values = _apply(w, p, [""] * 12, kind, data, t)
        else:
            values = _apply(w, p, list(main[2]), kind, data, t)
            if values == main[2]:
                continue
        account = ""
        if synced_t is not None and t >= synced_t:
            account = p.user_id
        elif shared_account and links.random() < 0.1:
            account = mess.SHARED_ACCOUNT
        _emit(w, p, main, values, t, account)


def _disconnected(w: World, p: Person, t: int) -> None:
    """A contact sharing no identifier with the person's others: a name variant, new email and phone."""
    rng = w.rng
    first, last = p.first, p.last
    if p.nicks and rng.random() < 0.6:
        first = rng.choice(p.nicks)
    elif rng.random() < 0.5:
        first = mess.typo(w, first)
    if rng.random() < 0.2:
        last = mess.typo(w, last)
    p.old_email = unique_email(w, first, last)
    p.old_phone = unique_phone(w, CITIES[p.addr[6]][2])
    values = [first, last, mess.typed_email(w, p.old_email), mess.typed_phone(w, p.old_phone, SOURCE),
              mess.typed_birth(w, p), *mess.typed_address(w, addr_of(p, t)), "", "", ""]
    _emit(w, p, _new_contact(w, p), values, t, "")


def _new_contact(w: World, p: Person) -> Contact:
    cid = w.ids.dec("contact", "C", 6, 3)
    p.contacts.append(cid)
    return [cid, -1, None]


def _apply(w: World, p: Person, v: list, kind: str, data, t: int) -> list:
    """Apply one change to contact values (first, last, email, phone, birth, street, city, postcode, country,
    loyalty_id, marketing_consent, personalization_consent); new data fills blanks, changes overwrite."""
    rng = w.rng

    def fill(i: int, value: str) -> None:
        if not v[i] and value:
            v[i] = value

    if kind == "subscribe":
        fill(2, data or mess.typed_email(w, email_of(w, p, t)))
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
        if email in mess.PLACEHOLDER_EMAILS and rng.random() < 0.5:
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
        v[5:9] = mess.typed_address(w, p.new_addr)
    elif kind == "email_change":
        v[2] = mess.typed_email(w, p.new_email)
    if v[11] and rng.random() < 0.03:
        v[11] = "false" if v[11] == "true" else "true"
    return v


def _emit(w: World, p: Person, contact: Contact, values: list, t: int, account: str) -> None:
    """Export a new version of the contact, a little after the change and always after its last version."""
    rng = w.rng
    when = min(max(t + rng.randint(30, 900), contact[1] + 1), w.window - 1)
    contact[1], contact[2] = when, values
    stamp = w.ts_naive(when) if rng.random() < 0.5 else w.ts_z(when)
    w.emit(SOURCE, p, when, (contact[0], stamp, *values, account))
