"""Privacy (docs/privacy.md): `journey forget` erases a person without a trace, the person is not loaded again,
the BI file holds no direct identifier, segments need consent, published files are not world-readable.

Two pipeline runs for the whole file (on a copy of the shared sample warehouse): the erasure run, then a
`journey backfill --full-refresh` that brings a re-delivered file carrying the person (and consent changes)."""

import csv
import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.lib.ingest import load_source
from orchestration.lib.privacy import (
    DEFAULT_PHONE_COUNTRY_CODE,
    SuppressionEntry,
    forget,
    key_path,
    node_hash,
    normalise,
    normalised_sql,
    suppressions_path,
    sync_suppressions,
)
from orchestration.lib.publish import BI_DROPPED_COLUMNS, bi_path, previous_path, rollback
from orchestration.lib.warehouse import connect, ensure_tables
from rules.privacy import DIRECT_IDENTIFIER_COLUMNS
from tests.helpers import DBT_DIR, SAMPLE_LANDING, copy_warehouse, query

ENV = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}


def journey(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], env=ENV, capture_output=True,
                          text=True, check=False)


# ------------------------------------------------------------------------------------------- who is erased
def pick_person(warehouse: Path) -> dict:
    """A customer of the sample with an e-mail, a phone, a CRM name, and a last name nobody else's record or
    identifier holds and no record of another customer carries, not even as a typo (so that finding it after the
    erasure is a trace, not a namesake). Chosen by e-mail, not by customer id: ids are keyed hashes with a key made
    per warehouse, so ordering by them picked a different person in every build."""
    rows = query(warehouse, """
        select d.customer_id, d.email, d.phone, d.first_name, d.last_name
        from marts.dim_customers d
        where d.email is not null and d.phone is not null and d.name_source = 'crm_contacts'
            and length(d.last_name) >= 5
            and (select count(*) from marts.dim_customers o where o.last_name ilike '%' || d.last_name || '%'
                 or o.first_name ilike '%' || d.last_name || '%') = 1
            and not exists (select 1 from marts.customer_identifiers i where i.customer_id <> d.customer_id
                            and i.identifier_value ilike '%' || d.last_name || '%')
            and not exists (select 1 from intermediate.int_identity__person_records p
                            join intermediate.int_identity__record_customers rc using (source_name, record_id)
                            where rc.customer_id <> d.customer_id
                                and (p.last_name_key ilike '%' || d.last_name || '%'
                                     or p.first_name_key ilike '%' || d.last_name || '%'))
            and exists (select 1 from raw.orders o where lower(trim(o.email)) = d.email)
        order by d.email limit 1""")
    assert rows, "no suitable person in the sample"
    customer_id, email, phone, first_name, last_name = rows[0]
    return {"customer_id": customer_id, "email": email, "phone": phone, "first_name": first_name,
            "last_name": last_name}


def needles(person: dict) -> list[str]:
    """What must not be found: e-mail, phone (as stored and its digits), last name, customer id."""
    return [person["email"], person["phone"], person["phone"][2:], person["last_name"], person["customer_id"]]


def sql_traces(warehouse: Path, values: list[str]) -> list[tuple]:
    """Every (schema, table, column, value) where a text column of any table contains one of the values."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = []
        columns = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                              "where table_catalog = current_database() and data_type = 'VARCHAR'").fetchall()
        for schema, table, column in columns:
            for value in values:
                n = con.execute(f'select count(*) from "{schema}"."{table}" where contains(lower("{column}"), ?)',
                                [value.lower()]).fetchone()[0]
                if n:
                    found.append((schema, table, column, value, n))
        return found
    finally:
        con.close()


def byte_traces(path: Path, values: list[str]) -> list[str]:
    data = path.read_bytes().lower()
    return [v for v in values if v.lower().encode() in data]


# ------------------------------------------------------------------------------------ the shared runs
@pytest.fixture(scope="module")
def erased(sample_build, tmp_path_factory):
    """A copy of the sample warehouse; one person forgotten by e-mail; `journey run` again (nothing new to load)."""
    root = tmp_path_factory.mktemp("privacy")
    warehouse = copy_warehouse(sample_build.warehouse, root / "warehouse" / "journey.duckdb")
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    person = pick_person(warehouse)
    before = {"sql": sql_traces(warehouse, needles(person)),
              "raw_rows": query(warehouse, "select count(*) from raw.orders where lower(trim(email)) = ?",
                                [person["email"]])[0][0]}
    forgotten = journey("forget", "--email", person["email"].upper(), "--warehouse", str(warehouse),
                        "--reason", "ticket 4711")
    run = journey("run", "--landing", str(landing), "--warehouse", str(warehouse))
    return {"warehouse": warehouse, "landing": landing, "person": person, "before": before, "forget": forgotten,
            "run": run, "root": root}


@pytest.fixture(scope="module")
def redelivered(erased):
    """After the erasure: an old orders file of the person delivered again with a new checksum (one line more,
    the person's e-mail spelled in capitals), the same file again under a new name (a duplicate), and two CRM
    consent changes; loaded by `journey backfill --full-refresh` over that export date."""
    landing, person = erased["landing"], erased["person"]
    source = next(p for p in sorted((landing / "orders").rglob("*"))
                  if p.is_file() and person["email"] in _text(p).lower())
    export_date = source.parent.name
    rows = list(csv.DictReader(_text(source).splitlines()))
    mine = [r for r in rows if (r["email"] or "").strip().lower() == person["email"]]
    extra = dict(mine[0], order_id="O_PRIVACY_1", email=f"  {person['email'].upper()} ", first_name="Someone")
    redelivery = source.parent / "orders_redelivered.csv"
    _write_csv(redelivery, [*rows, extra])
    duplicate = source.parent / ("copy_of_" + source.name)
    shutil.copyfile(source, duplicate)
    last = max(p.name for p in (landing / "crm_contacts").iterdir())
    consent = _consent_changes(erased["warehouse"], landing / "crm_contacts" / last)
    run = journey("backfill", "--from", export_date, "--to", last, "--landing", str(landing),
                  "--warehouse", str(erased["warehouse"]), "--full-refresh")
    return {"run": run, "redelivery": redelivery.relative_to(landing).as_posix(),
            "duplicate": duplicate.relative_to(landing).as_posix(), "person_rows": len(mine) + 1,
            "rows": len(rows) + 1, "consent": consent}


def _text(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return handle.read() if path.name.endswith((".csv", ".csv.gz")) else ""


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _consent_changes(warehouse: Path, folder: Path) -> dict:
    """A later CRM version of one contact that withdraws personalization consent (a customer with segments) and of
    one that grants it (a customer with sessions and no consent); returns their customer ids."""
    def contact(granted: bool) -> tuple:
        return query(warehouse, f"""
            select c.customer_id, r.* exclude (_source_file, _row_number, _export_date, _loaded_at, _file_sha256,
                _load_id)
            from marts.customer_360 c
            join marts.dim_customers d using (customer_id)
            join intermediate.int_identity__record_customers rc
                on rc.customer_id = c.customer_id and rc.source_name = 'crm_contacts'
            join raw.crm_contacts r on r.contact_id = rc.record_id
            where c.personalization_consent = {str(granted).lower()} and c.sessions_count > 0
                and d.personalization_consent_source = 'crm_contacts'
            order by r.contact_id, r.updated_at desc limit 1""")[0]
    columns = [r[0] for r in query(warehouse, "select column_name from (describe raw.crm_contacts) "
                                   "where not starts_with(column_name, '_')")]
    withdraw, grant = contact(True), contact(False)
    rows = []
    for row, value in ((withdraw, "false"), (grant, "true")):
        record = dict(zip(columns, row[1:], strict=True))
        record.update(updated_at=f"{folder.name}T00:00:00Z", personalization_consent=value)
        rows.append(record)
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "crm_consent_changes.csv", rows)
    return {"withdrawn": withdraw[0], "granted": grant[0]}


def published_files(warehouse: Path) -> list[Path]:
    return [warehouse, previous_path(warehouse), bi_path(warehouse), previous_path(bi_path(warehouse))]


# ------------------------------------------------------------------------------------------------ erasure
@pytest.mark.slow
def test_the_person_was_in_the_sample_before(erased):
    assert erased["before"]["raw_rows"] > 0
    tables = {(s, t) for s, t, *_ in erased["before"]["sql"]}
    assert ("raw", "orders") in tables and ("marts", "dim_customers") in tables
    assert ("intermediate", "int_identity__customer_id_map") in tables


@pytest.mark.slow
def test_forget_lists_keyed_hashes_only(erased):
    warehouse, person = erased["warehouse"], erased["person"]
    assert erased["forget"].returncode == 0, erased["forget"].stderr
    assert "1 customer(s)" in erased["forget"].stdout
    listed = suppressions_path(warehouse)
    text = listed.read_text(encoding="utf-8")
    assert not byte_traces(listed, needles(person))
    key = key_path(warehouse).read_text(encoding="utf-8").strip()
    entry = json.loads(text.splitlines()[0])
    assert node_hash(key, f"email:{person['email']}") in entry["hashes"]
    assert node_hash(key, f"phone:{person['phone']}") in entry["hashes"]
    assert entry["reason"] == "ticket 4711"
    for path in (listed, key_path(warehouse)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.slow
def test_erasure_leaves_no_trace_in_any_published_file(erased):
    assert erased["run"].returncode == 0, erased["run"].stdout[-3000:] + erased["run"].stderr[-3000:]
    person = erased["person"]
    for path in published_files(erased["warehouse"]):
        assert path.exists(), path
        assert sql_traces(path, needles(person)) == [], path
        assert byte_traces(path, needles(person)) == [], path
    assert query(erased["warehouse"], "select count(*) from marts.dim_customers")[0][0] > 1000  # the others stay


@pytest.mark.slow
def test_erasure_is_recorded_without_personal_data(erased):
    rows = query(erased["warehouse"], "select request_id, customers, identifiers, rows_removed, "
                 "rows_removed_by_table from ops.erasures")
    assert len(rows) == 1
    request_id, customers, identifiers, removed, by_table = rows[0]
    assert request_id.startswith("erasure-") and customers == 1 and identifiers >= 3
    assert removed == sum(by_table.values()) and by_table["raw.orders"] >= erased["before"]["raw_rows"]
    assert "intermediate.int_identity__customer_id_map" in by_table
    # the rows removed from raw are the suppressed ones of the books
    books = query(erased["warehouse"], "select coalesce(sum(rows_suppressed), 0) from ops.loaded_files")[0][0]
    assert books == sum(n for t, n in by_table.items() if t.startswith(("raw.", "quarantine.")))


@pytest.mark.slow
def test_books_still_balance_after_the_erasure(erased):
    broken = query(erased["warehouse"], "select file_path from ops.loaded_files where status = 'loaded' and "
                   "rows_read <> rows_loaded + rows_quarantined + rows_suppressed")
    assert broken == []
    for source in ("orders", "web_events"):
        loaded = query(erased["warehouse"], f"select sum(rows_loaded) from ops.loaded_files where source = '{source}'")
        assert loaded == query(erased["warehouse"], f"select count(*) from raw.{source}")


@pytest.mark.slow
def test_reports_and_logs_beside_the_warehouse_hold_no_trace(erased):
    person = erased["person"]
    folder = erased["warehouse"].parent
    published = set(published_files(erased["warehouse"]))
    found = [str(p) for p in folder.rglob("*") if p.is_file() and p not in published
             and p.suffix not in (".msgpack",) and byte_traces(p, needles(person)[:3])]
    assert found == []


@pytest.mark.slow
def test_rollback_after_an_erasure_does_not_bring_the_person_back(erased, tmp_path):
    warehouse = tmp_path / "journey.duckdb"
    for source, target in zip(published_files(erased["warehouse"]), published_files(warehouse), strict=True):
        shutil.copyfile(source, target)
    rollback(warehouse)
    for path in published_files(warehouse):  # the BI file rolled back with it
        assert sql_traces(path, needles(erased["person"])) == [], path
    assert query(bi_path(warehouse), "select max(publication_number) from ops.publications") \
        == query(warehouse, "select max(publication_number) from ops.publications")
    assert query(warehouse, "select count(*) from marts.dim_customers")[0][0] > 1000


# --------------------------------------------------------------------------------------- no resurrection
@pytest.mark.slow
def test_redelivery_backfill_and_full_refresh_do_not_load_the_person_again(erased, redelivered):
    run = redelivered["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    warehouse = erased["warehouse"]
    books = dict(((p, (s, r, lo, q, sup)) for p, s, r, lo, q, sup in query(
        warehouse, "select file_path, status, rows_read, rows_loaded, rows_quarantined, rows_suppressed "
        "from ops.loaded_files")))
    status, read, loaded, quarantined, suppressed = books[redelivered["redelivery"]]
    assert (status, read) == ("loaded", redelivered["rows"])
    assert suppressed >= redelivered["person_rows"]  # the person's rows and the new one in capitals
    assert read == loaded + quarantined + suppressed
    assert books[redelivered["duplicate"]][0] == "duplicate"
    assert query(warehouse, "select count(*) from raw.orders where order_id = 'O_PRIVACY_1'")[0][0] == 0
    for path in published_files(warehouse):
        assert sql_traces(path, needles(erased["person"])) == [], path
    assert len(query(warehouse, "select * from ops.erasures")) == 1  # applied once


@pytest.mark.slow
def test_consent_withdrawal_and_grant_take_effect_at_the_next_run(redelivered, erased):
    consent = redelivered["consent"]
    rows = dict((c, (p, v, r)) for c, p, v, r in query(
        erased["warehouse"], "select customer_id, personalization_consent, visitor_segment, referral_source "
        "from marts.customer_360 where customer_id in (?, ?)", [consent["withdrawn"], consent["granted"]]))
    assert rows[consent["withdrawn"]] == (False, None, None)
    granted, segment, _ = rows[consent["granted"]]
    assert granted is True and segment in ("first_time_visitor", "repeat_visitor")


# ------------------------------------------------------------------------------------------ BI surface
@pytest.mark.slow
def test_bi_file_holds_no_direct_identifier(sample_build):
    bi = bi_path(sample_build.warehouse)
    columns = query(bi, "select table_name, column_name from information_schema.columns "
                    "where table_catalog = current_database()")
    tables = {t for t, _ in columns}
    assert {"customer_360", "dim_customers", "fct_touchpoints", "fct_attribution"} <= tables
    assert "customer_identifiers" not in tables
    assert [c for _, c in columns if c in BI_DROPPED_COLUMNS or c.endswith("_record_id")] == []
    assert ("customer_360", "age_band") in columns and ("customer_360", "city") in columns
    assert query(bi, "select count(*) from marts.customer_360") == query(
        sample_build.warehouse, "select count(*) from marts.customer_360")
    bands = {r[0] for r in query(bi, "select distinct age_band from marts.dim_customers")}
    assert bands - {None} <= {"under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"} and len(bands) > 2
    emails = [r[0] for r in query(sample_build.warehouse, "select email from marts.dim_customers "
                                  "where email is not null limit 3")]
    assert sql_traces(bi, emails) == []


@pytest.mark.slow
def test_published_files_are_not_world_readable(sample_build):
    for path in (sample_build.warehouse, bi_path(sample_build.warehouse)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


# ------------------------------------------------------------------------------------ fast unit tests
@pytest.mark.parametrize("raw, expected", [
    ("(503) 245-8540", "+15032458540"), ("15032458540", "+15032458540"), ("+44 20 7946 0958", "+442079460958"),
    ("503-245", None), (" \u00a0", None),
])
def test_phone_normalisation_agrees_with_sql(raw, expected):
    assert normalise("phone", raw) == expected
    assert duckdb.connect().execute(f"select {normalised_sql('phone', '$v')}", {"v": raw}).fetchone()[0] == expected


def test_email_normalisation_agrees_with_sql():
    assert normalise("email", "  Ann.B@Example.COM\u00a0") == "ann.b@example.com"
    assert duckdb.connect().execute(f"select {normalised_sql('email', '$v')}",
                                  {"v": "  Ann.B@Example.COM\u00a0"}).fetchone()[0] == "ann.b@example.com"


def test_phone_country_code_is_dbts():
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert str(project["vars"]["default_phone_country_code"]) == DEFAULT_PHONE_COUNTRY_CODE


def test_ingestion_drops_and_counts_rows_of_a_suppressed_identifier(tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "support_tickets" / "2026-09-10"
    folder.mkdir(parents=True)
    header = "ticket_id,opened_at,closed_at,email,phone,contact_channel,category,satisfaction_score"
    (folder / "t.csv").write_text("\n".join([
        header,
        "T1,2026-09-09T10:00:00Z,,ann@x.com,,email,product,4",
        "T2,2026-09-09T11:00:00Z,,  ANN@X.COM ,,email,product,4",  # the same e-mail, spelled otherwise
        "T3,2026-09-09T12:00:00Z,,bob@x.com,(503) 245-8540,email,product,4",  # the phone is listed
        ",2026-09-09T13:00:00Z,,ann@x.com,,email,product,4",  # breaks a rule: suppressed, not quarantined
        "T5,2026-09-09T14:00:00Z,,cy@x.com,,email,product,4",
        ",2026-09-09T15:00:00Z,,dan@x.com,,email,product,4",  # quarantined (missing key)
    ]) + "\n", encoding="utf-8")
    con = connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con)
    key = "k" * 64
    sync_suppressions(con, [SuppressionEntry("r1", "2026-09-10T00:00:00+00:00", "",
                                             [node_hash(key, "email:ann@x.com"), node_hash(key, "phone:+15032458540")])])
    report = load_source(con, "support_tickets", landing, "l1", __import__("datetime").datetime(2026, 9, 10),
                         dates={date(2026, 9, 10)}, privacy_key=key)
    f = report.files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_suppressed) == (6, 1, 1, 4)
    assert con.execute("select ticket_id from raw.support_tickets").fetchall() == [("T5",)]
    assert con.execute("select count(*) from quarantine.support_tickets where _record ilike '%ann@%'").fetchone()[0] == 0
    assert con.execute("select rows_read, rows_loaded, rows_quarantined, rows_suppressed from ops.loaded_files"
                       ).fetchall() == [(6, 1, 1, 4)]
    assert con.execute("select rows_suppressed from ops.loads").fetchall() == [(4,)]
    con.close()


def test_ingestion_without_the_key_refuses_to_load(tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "reviews" / "2026-09-10"
    folder.mkdir(parents=True)
    (folder / "r.csv").write_text("review_id,posted_at,email,user_id,platform,rating,product_id\n"
                                  "R1,2026-09-09T10:00:00Z,ann@x.com,U1,website,5,SKU-1\n", encoding="utf-8")
    con = connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con)
    sync_suppressions(con, [SuppressionEntry("r1", "2026-09-10T00:00:00+00:00", "", ["00"])])
    from orchestration.lib.ingest import IngestError

    with pytest.raises(IngestError, match="privacy key"):
        load_source(con, "reviews", landing, "l1", __import__("datetime").datetime(2026, 9, 10), privacy_key=None)
    assert con.execute("select count(*) from raw.reviews").fetchone()[0] == 0
    con.close()


def test_forget_without_a_warehouse_still_lists_the_identifier(tmp_path):
    warehouse = tmp_path / "journey.duckdb"
    result = forget(warehouse, [("email", "Ann@X.com"), ("loyalty_id", " L-1 ")], reason="")
    assert result.customers == 0 and result.identifiers == 2
    key = key_path(warehouse).read_text(encoding="utf-8").strip()
    entry = json.loads(suppressions_path(warehouse).read_text(encoding="utf-8"))
    assert set(entry["hashes"]) == {node_hash(key, "email:ann@x.com"), node_hash(key, "loyalty_id:L-1")}


def test_forget_command_reads_a_file_and_refuses_bad_input(tmp_path):
    warehouse = tmp_path / "journey.duckdb"
    listing = tmp_path / "people.txt"
    listing.write_text("# two people\nemail,ann@x.com\n\nphone,(503) 245-8540\n", encoding="utf-8")
    ok = journey("forget", "--file", str(listing), "--warehouse", str(warehouse))
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(suppressions_path(warehouse).read_text(encoding="utf-8"))["hashes"]) == 2
    listing.write_text("passport,123\n", encoding="utf-8")
    bad = journey("forget", "--file", str(listing), "--warehouse", str(warehouse))
    assert bad.returncode == 2 and "line 1" in bad.stderr
    empty = journey("forget", "--warehouse", str(warehouse))
    assert empty.returncode == 2 and "at least one identifier" in empty.stderr
    invalid = journey("forget", "--phone", "12", "--warehouse", str(warehouse))
    assert invalid.returncode == 2 and "phone" in invalid.stderr


def test_direct_identifier_columns_are_left_out_of_the_bi_file():
    assert DIRECT_IDENTIFIER_COLUMNS <= BI_DROPPED_COLUMNS
