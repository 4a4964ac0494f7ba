"""Privacy: the suppression list, erasure of a person, and the checks ingestion makes against the list.

`journey forget` resolves an identifier (e-mail, phone, account id, loyalty id, customer id) to the customer it
belongs to in the published warehouse, takes every identifier linked to that customer, and appends ONE entry to the
suppression list `<warehouse>.suppressions.jsonl` (outside the published file, mode 0600): a request id, when, the
reason, and the keyed hashes of those identifiers - never their plain values. A hash is
`sha256(key || '|' || node_id)` where node_id is the identity graph's node ('email:ann@x.com', 'phone:+1...',
'user_id:U1', ...; 'customer_id:cus_...' for a customer id) and the key is the privacy secret: JOURNEY_PRIVACY_KEY
when set, else the file `<warehouse>.key` beside the warehouse (created with 32 random bytes, mode 0600). Without
the key, nobody holding a list of e-mails can tell whether one of them is on the list.

The next run applies what is pending (`apply_erasures`, in the build file before ingestion): it copies the hashes
into `ops.suppressions`, finds the person's identifier values (the id map's nodes whose hash is listed), their
customer ids and their records, and deletes every row of them from every table of every schema; the books of the
files they came from count those rows as suppressed. That run rebuilds the dbt models in full and its publish
rewrites the build file into a fresh one (COPY FROM DATABASE), so no freed block holds a copy; the version kept
for rollback gets the same erasure and rewrite (`erase_file`). `ops.erasures` records each request: id, when
requested and applied, and the rows removed per table (no personal data).

Ingestion drops every row that carries a listed identifier (`suppressed_rows_sql`) and counts it per file as
suppressed: rows read = loaded + quarantined + suppressed. See docs/privacy.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

KEY_ENV = "JOURNEY_PRIVACY_KEY"
DEFAULT_PHONE_COUNTRY_CODE = "1"  # dbt var default_phone_country_code (tests/test_privacy.py pins them together)

# Which columns of each source carry which identifier type (the identity graph's node types), as
# dbt_project/macros/identity_records.sql reads them.
SOURCE_IDENTIFIERS: dict[str, dict[str, str]] = {
    "web_events": {"anonymous_id": "anonymous_id", "user_id": "user_id", "order_id": "order_id"},
    "app_events": {"device_id": "device_id", "user_id": "user_id"},
    "orders": {"email": "email", "phone": "phone", "user_id": "user_id", "order_id": "order_id"},
    "pos_transactions": {"phone": "phone", "loyalty_id": "loyalty_id"},
    "email_events": {"email": "email", "subscriber_id": "subscriber_id"},
    "crm_contacts": {"email": "email", "phone": "phone", "loyalty_id": "loyalty_id", "contact_id": "crm_contact_id",
                     "account_id": "user_id"},
    "support_tickets": {"email": "email", "phone": "phone"},
    "reviews": {"email": "email", "user_id": "user_id"},
}
# `journey forget` options -> node type
FORGET_TYPES = {"email": "email", "phone": "phone", "account_id": "user_id", "loyalty_id": "loyalty_id",
                "customer_id": "customer_id"}
ID_MAP = "intermediate.int_identity__customer_id_map"
RECORD_CUSTOMERS = "intermediate.int_identity__record_customers"
MERGES = "marts.customer_merges"


class PrivacyError(Exception):
    """A forget request or a suppression list that cannot be used; the message says why."""


# ------------------------------------------------------------------------------------------------- the key
def key_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".key")


def suppressions_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".suppressions.jsonl")


def privacy_key(warehouse: Path, create: bool = True) -> str | None:
    """The secret the hashes are keyed with: JOURNEY_PRIVACY_KEY, else `<warehouse>.key` (created when missing and
    `create`, 0600). Keep it, and the suppression list, with the warehouse's backups: without them a re-delivered
    export would load an erased person again."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV]
    path = key_path(warehouse)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


def node_hash(key: str, node_id: str) -> str:
    return hashlib.sha256(f"{key}|{node_id}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------ normalisation
def normalise(node_type: str, value: str, country_code: str = DEFAULT_PHONE_COUNTRY_CODE) -> str | None:
    """A value as the identity graph holds it (staging's normalize_email / normalize_phone / nullif_blank)."""
    text = value.strip(" \t\n\r\x0b\x0c\xa0")
    if not text:
        return None
    if node_type == "email":
        return text.lower()
    if node_type == "phone":
        digits = re.sub(r"[^0-9]", "", text)
        if text.startswith("+"):
            return "+" + digits if 8 <= len(digits) <= 15 else None
        if len(digits) == 10:
            return f"+{country_code}{digits}"
        if len(digits) == 10 + len(country_code) and digits.startswith(country_code):
            return "+" + digits
        return None
    return text


def normalised_sql(node_type: str, column: str, country_code: str = DEFAULT_PHONE_COUNTRY_CODE,
                   dialect: str = "duckdb") -> str:
    """The same normalisation in SQL, for a text column: DuckDB's, or Spark's (`dialect="spark"`, for erasures on
    the Spark engine: orchestration/spark_privacy.py)."""
    chars = "chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)"
    trimmed = f"btrim({column}, {chars})" if dialect == "spark" else f"trim({column}, {chars})"
    text = f"nullif({trimmed}, '')"
    if node_type == "email":
        return f"lower({text})"
    if node_type == "phone":
        digits = (f"regexp_replace({text}, '[^0-9]', '')" if dialect == "spark"
                  else f"regexp_replace({text}, '[^0-9]', '', 'g')")
        cc = country_code
        return (f"case when {text} is null then null "
                f"when substr({text}, 1, 1) = '+' then case when length({digits}) between 8 and 15 then '+' || {digits} end "
                f"when length({digits}) = 10 then '+{cc}' || {digits} "
                f"when length({digits}) = {10 + len(cc)} and substr({digits}, 1, {len(cc)}) = '{cc}' then '+' || {digits} "
                "end")
    return text


def hash_sql(node_type: str, column: str, key_param: str = "$key") -> str:
    return f"sha256({key_param} || '|{node_type}:' || {normalised_sql(node_type, column)})"


def suppressed_rows_sql(source: str, rows: str, key_param: str = "$key", available: set[str] | None = None) -> str:
    """A condition on `rows` (an alias of a relation with the source's export columns): the row carries an
    identifier on the suppression list (ops.suppressions). With `available`, only those columns are looked at
    (an optional column a batch does not have); empty when none is left."""
    terms = [f"{hash_sql(t, f'{rows}.{quote(c)}', key_param)} in (select hash from ops.suppressions)"
             for c, t in SOURCE_IDENTIFIERS[source].items() if available is None or c in available]
    return "(" + " or ".join(terms) + ")" if terms else ""


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# ------------------------------------------------------------------------------------- the suppression list
@dataclass
class SuppressionEntry:
    request_id: str
    requested_at: str
    reason: str
    hashes: list[str]


def read_suppressions(warehouse: Path) -> list[SuppressionEntry]:
    path = suppressions_path(warehouse)
    if not path.exists():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entries.append(SuppressionEntry(data["request_id"], data["requested_at"], data.get("reason", ""),
                                            list(data["hashes"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise PrivacyError(f"{path}: line {n} is not a suppression entry ({exc}); fix or restore the file") from exc
    return entries


def _append_entry(warehouse: Path, entry: SuppressionEntry) -> None:
    path = suppressions_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"request_id": entry.request_id, "requested_at": entry.requested_at,
                                 "reason": entry.reason, "hashes": entry.hashes}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class ForgetResult:
    request_id: str
    customers: int  # customers the identifiers resolved to in the published warehouse
    identifiers: int  # hashes written (the identifiers given and every one linked to those customers)
    unresolved: list[str] = field(default_factory=list)  # "type" of identifiers no customer holds (still listed)


def forget(warehouse: Path, identifiers: list[tuple[str, str]], reason: str = "", resolve: bool = True) -> ForgetResult:
    """Append one suppression entry for the person(s) the identifiers resolve to. `identifiers` are
    (option, value) pairs with option one of FORGET_TYPES. Reads the published warehouse (read-only) when it exists
    and `resolve` (the Spark engine lists the identifiers given: its run finds the person,
    orchestration/spark_privacy.py)."""
    if not identifiers:
        raise PrivacyError("give at least one identifier (--email, --phone, --account-id, --loyalty-id, "
                           "--customer-id or --file)")
    nodes: set[str] = set()
    for option, value in identifiers:
        node_type = FORGET_TYPES.get(option)
        if node_type is None:
            raise PrivacyError(f"unknown identifier type {option!r}: one of {', '.join(FORGET_TYPES)}")
        norm = normalise(node_type, value)
        if norm is None:
            raise PrivacyError(f"{option} value is empty or not a valid {option.replace('_', ' ')}")
        nodes.add(f"{node_type}:{norm}")
    key = privacy_key(warehouse)
    customers: set[str] = set()
    unresolved: list[str] = []
    if resolve and warehouse.exists():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            if _has_table(con, ID_MAP):
                customers = _resolve_customers(con, nodes)
                linked = {r[0] for r in con.execute(
                    f"select node_id from {ID_MAP} where customer_id in (select unnest(?::varchar[])) "
                    "or first_customer_id in (select unnest(?::varchar[]))",
                    [sorted(customers), sorted(customers)]).fetchall()}
                # a customer id given is found when it leads to a customer: a current one, or an old one through
                # the id map's first ids and the merge log (merged, split or re-keyed since)
                found = {n for n in nodes if n.startswith("customer_id:")
                         and (n.split(":", 1)[1] in customers or _resolve_customers(con, {n}))}
                found |= {r[0] for r in con.execute(
                    f"select node_id from {ID_MAP} where node_id in (select unnest(?::varchar[]))",
                    [sorted(nodes)]).fetchall()}
                unresolved = sorted(n.split(":", 1)[0] for n in nodes - found)
                nodes |= linked | {f"customer_id:{c}" for c in customers}
        finally:
            con.close()
    request_id = f"erasure-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    entry = SuppressionEntry(request_id, datetime.now(UTC).isoformat(timespec="seconds"), reason,
                             sorted(node_hash(key, n) for n in nodes))
    _append_entry(warehouse, entry)
    return ForgetResult(request_id, len(customers), len(entry.hashes), unresolved)


def _has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                            [schema, name]).fetchone()[0])


def _resolve_customers(con: duckdb.DuckDBPyConnection, nodes: set[str]) -> set[str]:
    """The current customer ids of the given nodes (identifier values and customer ids, old ids followed through
    the id map's first ids and the merge log)."""
    given_ids = sorted(n.split(":", 1)[1] for n in nodes if n.startswith("customer_id:"))
    customers = {r[0] for r in con.execute(
        f"select distinct customer_id from {ID_MAP} where node_id in (select unnest(?::varchar[])) "
        "or customer_id in (select unnest(?::varchar[])) or first_customer_id in (select unnest(?::varchar[]))",
        [sorted(nodes), given_ids, given_ids]).fetchall() if r[0]}
    if _has_table(con, MERGES):
        frontier = set(customers) | set(given_ids)
        for _ in range(20):  # follow old ids to the ones they were merged into
            nxt = {r[0] for r in con.execute(
                f"select new_customer_id from {MERGES} where old_customer_id in (select unnest(?::varchar[]))",
                [sorted(frontier)]).fetchall() if r[0]} - customers
            if not nxt:
                break
            customers |= nxt
            frontier = nxt
    return customers


# --------------------------------------------------------------------------------------------- erasure
OPS_DDL = """
create schema if not exists ops;
create table if not exists ops.suppressions (hash VARCHAR, request_id VARCHAR, requested_at TIMESTAMP);
create table if not exists ops.erasures (
    request_id VARCHAR, requested_at TIMESTAMP, applied_at TIMESTAMP, customers BIGINT, identifiers BIGINT,
    rows_removed BIGINT, rows_removed_by_table MAP(VARCHAR, BIGINT), run_id VARCHAR
);
"""


def ensure_privacy_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(OPS_DDL)


@dataclass
class Erasure:
    request_ids: list[str]
    customers: int
    identifiers: int
    rows_removed: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows_removed.values())


def sync_suppressions(con: duckdb.DuckDBPyConnection, entries: list[SuppressionEntry]) -> list[SuppressionEntry]:
    """Copy the list's hashes into ops.suppressions; returns the entries not yet applied (not in ops.erasures)."""
    ensure_privacy_tables(con)
    known = {r[0] for r in con.execute("select distinct request_id from ops.suppressions").fetchall()}
    new = [e for e in entries if e.request_id not in known]
    if new:
        con.execute(
            "insert into ops.suppressions select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::timestamp[])",
            [[h for e in new for h in e.hashes], [e.request_id for e in new for _ in e.hashes],
             [datetime.fromisoformat(e.requested_at).replace(tzinfo=None) for e in new for _ in e.hashes]])
    applied = {r[0] for r in con.execute("select request_id from ops.erasures").fetchall()}
    return [e for e in entries if e.request_id not in applied]


def pending_erasures(warehouse: Path) -> list[SuppressionEntry]:
    """Entries of the suppression list the published warehouse has not applied yet (all, when there is none)."""
    entries = read_suppressions(warehouse)
    if not entries or not warehouse.exists():
        return entries
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not _has_table(con, "ops.erasures"):
            return entries
        applied = {r[0] for r in con.execute("select request_id from ops.erasures").fetchall()}
    finally:
        con.close()
    return [e for e in entries if e.request_id not in applied]


def apply_erasures(con: duckdb.DuckDBPyConnection, key: str, pending: list[SuppressionEntry],
                   record: bool = True, run_id: str = "") -> Erasure:
    """Delete every row of the people of `pending` (already in ops.suppressions) from every table.

    1. the person's nodes: the id map's node ids whose keyed hash is listed; their customer ids (and the ids merged
       into them); the records of those customers (int_identity__record_customers);
    2. raw.<source>: rows of those records or carrying a listed identifier; quarantine.<source>: the same, judged on
       the quarantined record, and records holding one of the person's values as text; ops.field_issues of the
       removed raw rows; the books of their files count them as suppressed;
    3. every other table of every schema: rows where a text column equals one of the person's identifier values,
       node ids, customer ids or record ids.
    """
    ensure_privacy_tables(con)
    ids = [e.request_id for e in pending]
    con.execute("create or replace temp table _erase_hashes as select distinct hash from ops.suppressions "
                "where request_id in (select unnest(?::varchar[]))", [ids])
    has_map = _has_table(con, ID_MAP)
    # the person's nodes and customers
    con.execute("create or replace temp table _erase_nodes (node_id varchar)")
    con.execute("create or replace temp table _erase_customers (customer_id varchar)")
    if has_map:
        con.execute(f"insert into _erase_customers select distinct customer_id from {ID_MAP} "
                    "where sha256($key || '|' || node_id) in (select hash from _erase_hashes) "
                    "or sha256($key || '|customer_id:' || customer_id) in (select hash from _erase_hashes) "
                    "or sha256($key || '|customer_id:' || first_customer_id) in (select hash from _erase_hashes)",
                    {"key": key})
        if _has_table(con, MERGES):
            for _ in range(20):
                added = con.execute(
                    f"insert into _erase_customers select distinct new_customer_id from {MERGES} "
                    "where old_customer_id in (select customer_id from _erase_customers) "
                    "and new_customer_id not in (select customer_id from _erase_customers) "
                    "and new_customer_id is not null"
                ).fetchone()[0]
                if not added:
                    break
        con.execute(f"insert into _erase_nodes select distinct node_id from {ID_MAP} "
                    "where customer_id in (select customer_id from _erase_customers) "
                    "or first_customer_id in (select customer_id from _erase_customers) "
                    "or sha256($key || '|' || node_id) in (select hash from _erase_hashes)", {"key": key})
        # every node is listed from now on, so that no later delivery brings one of them back
        con.execute("insert into ops.suppressions select distinct sha256($key || '|' || node_id), $rid, $at "
                    "from _erase_nodes where sha256($key || '|' || node_id) not in (select hash from ops.suppressions)",
                    {"key": key, "rid": ids[0] if ids else "erasure",
                     "at": datetime.fromisoformat(pending[0].requested_at).replace(tzinfo=None) if pending else None})
        if _has_table(con, MERGES):  # customer ids that were merged into the person's
            # ... at any remove through merges and re-keyings (an md5 id merged into another, re-keyed later)
            for _ in range(20):
                added = con.execute(
                    f"insert into _erase_customers select distinct old_customer_id from {MERGES} "
                    "where change_type in ('merge', 'rekey') "
                    "and new_customer_id in (select customer_id from _erase_customers) "
                    "and old_customer_id not in (select customer_id from _erase_customers) "
                    "and old_customer_id is not null"
                ).fetchone()[0]
                if not added:
                    break
            con.execute(f"insert into _erase_customers select distinct old_customer_id from {MERGES} "
                        "where new_customer_id in (select customer_id from _erase_customers) "
                        "and old_customer_id is not null")
    con.execute("create or replace temp table _erase_records (source_name varchar, record_id varchar)")
    if _has_table(con, RECORD_CUSTOMERS):
        con.execute(f"insert into _erase_records select distinct source_name, record_id from {RECORD_CUSTOMERS} "
                    "where customer_id in (select customer_id from _erase_customers)")
    removed: dict[str, int] = {}
    # raw, quarantine, field issues, books
    from rules.contract import SOURCES

    con.execute("create or replace temp table _erased_rows (source varchar, _source_file varchar, "
                "_row_number bigint, kind varchar)")
    for name, source in SOURCES.items():
        key_col = source.key
        cond = (f"(r.{quote(key_col)} in (select record_id from _erase_records where source_name = '{name}') "
                f"or {suppressed_rows_sql(name, 'r')})")
        if _has_table(con, f"raw.{name}"):
            con.execute(f"insert into _erased_rows select '{name}', _source_file, _row_number, 'raw' "
                        f"from raw.{name} r where {cond}", {"key": key})
            n = con.execute(f"delete from raw.{name} r where {cond}", {"key": key}).fetchone()[0]
            if n:
                removed[f"raw.{name}"] = n
        if _has_table(con, f"quarantine.{name}"):
            qcols = ", ".join(f"json_extract_string(_record, '$.{c}') as {quote(c)}"
                              for c in {key_col, *SOURCE_IDENTIFIERS[name]})
            qcond = cond.replace("r.", "q.")
            where = (f"(_source_file, _row_number) in (select _source_file, _row_number from "
                     f"(select _source_file, _row_number, {qcols} from quarantine.{name}) q where {qcond}) "
                     "or exists (select 1 from _erase_values v where length(v.value) >= 6 "
                     "and contains(lower(_record), lower(v.value)))")
            _erase_values(con)
            con.execute(f"insert into _erased_rows select '{name}', _source_file, _row_number, 'quarantine' "
                        f"from quarantine.{name} where {where}", {"key": key})
            n = con.execute(f"delete from quarantine.{name} where {where}", {"key": key}).fetchone()[0]
            if n:
                removed[f"quarantine.{name}"] = n
    if _has_table(con, "ops.field_issues"):
        n = con.execute("delete from ops.field_issues f where exists (select 1 from _erased_rows e where e.kind = 'raw' "
                        "and e.source = f.source and e._source_file = f._source_file "
                        "and e._row_number = f._row_number)").fetchone()[0]
        if n:
            removed["ops.field_issues"] = n
    count_erased_rows(con)
    # every other table: rows holding one of the person's values
    _erase_values(con)
    skip = {"ops.suppressions", "ops.erasures", "ops.loaded_files", "ops.loads"}
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        "and table_catalog = current_database() and table_schema not in ('raw', 'quarantine') order by 1, 2"
    ).fetchall()
    for schema, table in tables:
        qualified = f"{schema}.{table}"
        if qualified in skip:
            continue
        cols = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "and table_catalog = current_database() and data_type = 'VARCHAR'", [schema, table]).fetchall()]
        if not cols:
            continue
        cond = " or ".join(f"{quote(c)} in (select value from _erase_values)" for c in cols)
        n = con.execute(f"delete from {quote(schema)}.{quote(table)} where {cond}").fetchone()[0]
        if n:
            removed[qualified] = n
    customers = con.execute("select count(distinct customer_id) from _erase_customers").fetchone()[0]
    identifiers = con.execute("select count(*) from _erase_nodes").fetchone()[0]
    if record:
        now = datetime.now(UTC).replace(tzinfo=None)
        for e in pending:  # one row per request; the rows removed are those of the run that applied them together
            con.execute("insert into ops.erasures values (?, ?, ?, ?, ?, ?, map(?::varchar[], ?::bigint[]), ?)",
                        [e.request_id, datetime.fromisoformat(e.requested_at).replace(tzinfo=None), now, customers,
                         identifiers, sum(removed.values()), list(removed), list(removed.values()), run_id])
    for table in ("_erase_hashes", "_erase_nodes", "_erase_customers", "_erase_records", "_erased_rows",
                  "_erase_values"):
        con.execute(f"drop table if exists {table}")
    return Erasure(ids, customers, identifiers, removed)


def _erase_values(con: duckdb.DuckDBPyConnection) -> None:
    """The person's values as text: identifier values and node ids, customer ids, record ids."""
    con.execute(
        "create or replace temp table _erase_values as select distinct value from ("
        "select node_id as value from _erase_nodes union all "
        "select substr(node_id, strpos(node_id, ':') + 1) from _erase_nodes union all "
        "select customer_id from _erase_customers union all "
        "select record_id from _erase_records) where value is not null and value <> ''"
    )


def count_erased_rows(con: duckdb.DuckDBPyConnection) -> None:
    """The removed rows move from loaded / quarantined to suppressed in the books of their files."""
    ensure_rows_suppressed(con)
    con.execute(
        "update ops.loaded_files f set rows_loaded = f.rows_loaded - e.raw_rows, "
        "rows_quarantined = f.rows_quarantined - e.quarantine_rows, "
        "rows_suppressed = coalesce(f.rows_suppressed, 0) + e.raw_rows + e.quarantine_rows "
        "from (select source, _source_file, count(*) filter (kind = 'raw') as raw_rows, "
        "count(*) filter (kind = 'quarantine') as quarantine_rows from _erased_rows group by all) e "
        "where f.source = e.source and f.file_path = e._source_file and f.status = 'loaded'"
    )


def ensure_rows_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("alter table ops.loaded_files add column if not exists rows_suppressed BIGINT default 0")
    con.execute("alter table ops.loads add column if not exists rows_suppressed BIGINT default 0")


# ------------------------------------------------------------------------------- the build file's marker
def erasure_marker(build: Path) -> Path:
    """Present while a build file holds an applied erasure: its dbt build is a full refresh and its publish rewrites
    the file (and the version kept for rollback)."""
    return build.with_name(build.name + ".erasure")


def erase_file(path: Path, key: str, entries: list[SuppressionEntry]) -> Erasure:
    """Apply the erasures of `entries` to another warehouse file (the version kept for rollback) and rewrite it."""
    from orchestration.lib.warehouse import compact_database

    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        sync_suppressions(con, entries)
        erasure = apply_erasures(con, key, entries, record=True)
        con.execute("checkpoint")
    finally:
        con.close()
    compact_database(str(path))
    return erasure


def erase_previous(published: Path, prev: Path) -> Erasure:
    """Replace `prev` (the version kept for rollback) by a copy of `published` with the pending erasures applied
    and rewritten, before `published` itself is replaced. The old file's inode is left to the readers that still
    have it open; nothing writes it."""
    from orchestration.lib.warehouse import clone_or_copy

    key = privacy_key(published, create=False)
    if key is None:
        raise PrivacyError(f"the privacy key is missing ({KEY_ENV} or {key_path(published)}): restore it")
    work = prev.with_name(prev.name + ".erasing")
    for leftover in (work, work.with_name(work.name + ".wal")):
        leftover.unlink(missing_ok=True)
    clone_or_copy(str(published), str(work))
    erasure = erase_file(work, key, read_suppressions(published))
    os.chmod(work, 0o640)
    os.replace(work, prev)
    return erasure
