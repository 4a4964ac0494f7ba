"""The raw gates' rules aggregated in DuckDB: broken batches judged with fixed outcomes, and the regular expressions
giving the same answers in DuckDB (RE2) as in Python.

BROKEN lists batches that break every rule at least once, several of them at the edge of a threshold or of the
small-batch allowance; EXPECTED holds what the gate must find in each: the failed rules and their unexpected
counts. Those outcomes were first established by judging each batch both row by row (the GX suites of the previous
gate, on pandas) and by the profile, which agreed on every batch: verdict, failed rules, counts, percentages,
the observed text and the sample rows (commit "Raw gates: the contract's rules as DuckDB aggregates"). The
row-by-row path is gone; its outcomes stay here as fixed expectations, but for the rate rules: since they judge a
batch by the lower Clopper-Pearson bound of its share (rules/thresholds.py, rate_rule_confidence), their edges
moved, and the batches that stood at the old edges were made as much worse as the bound asks (each says its share
and its bound), with a batch on either side of the new edge where there was one on either side of the old.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from math import comb
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from expectations import patterns
from expectations.raw import raw_spec
from expectations.raw_profile import literal, validate_raw_frame
from expectations.validation import QualityResult
from generator import generate
from orchestration.lib.ingest import load_source
from orchestration.lib.warehouse import connect, ensure_tables
from rules.contract import SOURCES
from rules.thresholds import raw_thresholds
from tests.helpers import resource_for
from tests.test_quality import NOW, clean_frame


def renumbered(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row on its own line of the file (copies of a row are re-sends on later lines)."""
    frame = frame.reset_index(drop=True)
    frame["_row_number"] = range(1, len(frame) + 1)
    return frame


def web_resends(copies: int) -> pd.DataFrame:
    frame = clean_frame("web_events", n=100)
    return renumbered(pd.concat([frame, frame.iloc[:copies]]))


def web_conflicts_and_enums() -> pd.DataFrame:
    frame = clean_frame("web_events", n=100)
    clash = frame.iloc[[0, 1, 2]].assign(event_type="login")  # same ids, other content: 6 conflicting rows
    frame = pd.concat([frame, clash])  # 6 of 103 (5.8%, at least 1.8% > 1%)
    frame.iloc[10:24, frame.columns.get_loc("event_type")] = "hover"  # 14 of 103 unknown (at least 6.8% > 5%)
    frame.iloc[24:45, frame.columns.get_loc("device_type")] = " "  # 21 of 103 blank (at least 12.0% > 10%)
    frame.iloc[45:47, frame.columns.get_loc("utm_source")] = ""  # not a rule: blank optional text is fine
    return renumbered(frame)


def orders_broken() -> pd.DataFrame:
    frame = clean_frame("orders", n=60)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    frame.iloc[0, at["order_id"]] = "  "  # blank key
    frame.iloc[1, at["order_updated_at"]] = "2099-01-01T00:00:00Z"  # future
    frame.iloc[2, at["order_updated_at"]] = "01/10/2026 10:00"  # not ISO 8601, and unparseable
    frame.iloc[3:30, at["status"]] = "Teleported"  # unknown enum flood
    frame.iloc[4, at["total_amount"]] = "-5.00"  # negative
    frame.iloc[5, at["currency"]] = " "  # blank currency
    frame.iloc[6, at["currency"]] = "JPY"  # unknown currency
    frame.iloc[7, at["total_amount"]] = "12,50"  # not a number
    frame.iloc[8, at["placed_at"]] = "2026-10-03T00:00:00Z"  # placed after it was updated (1: within allowance)
    frame.iloc[9, at["placed_at"]] = "yesterday"  # optional timestamp unparseable (1: within allowance)
    frame.iloc[10, at["total_amount"]] = ""  # no amount
    frame.iloc[11:18, at["email"]] = ["n/a", "unknown", "john.doe@", "@example.com", "a b@c.com", "x@y", "é@x.com"]
    frame.iloc[20:27, at["email"]] = "unknown"  # with the 7 above, 14 of 62 (at least 11.5% > 10%)
    frame.iloc[18, at["total_amount"]] = "-0.00"  # zero is not negative
    frame.iloc[19, at["total_amount"]] = " 1e3 "  # a number with spaces and an exponent
    clash = frame.iloc[[40, 41]].assign(total_amount="99.00")  # same versions, other content
    return renumbered(pd.concat([frame, clash]))


def orders_placed_after_updated(rows: int) -> pd.DataFrame:
    frame = clean_frame("orders", n=40)
    frame.iloc[:rows, frame.columns.get_loc("placed_at")] = "2026-10-01T10:06:00Z"  # 6 minutes after: > 5 min skew
    frame.iloc[rows:rows + 3, frame.columns.get_loc("placed_at")] = "2026-10-01T10:05:00Z"  # within the skew
    return frame


def pos_numbers_and_phones() -> pd.DataFrame:
    frame = clean_frame("pos_transactions", n=40)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    # 7 of 40 unparseable (17.5%, at least 6.1% > 5%); "nan" is not a NUMBER (DuckDB reads NaN, no number to
    # range-check)
    frame.iloc[0:7, at["items_count"]] = ["many", "1,5", "3 items", "nan", "x", "?", "1.2.3"]
    frame.iloc[7:13, at["items_count"]] = ["-1", "-2", "-0.5", "-3", "-4", "-5"]  # 6 of 33 numbers below 0 (5.7%)
    # 12 of 40 malformed phones: exactly the 30% POS tolerates (0.70 mostly)
    frame.iloc[10:22, at["phone"]] = ["123", "unknown", "+44", "12-34", "n/a", "123456", "1234567890123456",
                                      "phone: 1234567", "+1 415 555 0134 ext", "44#20", "0", "++441234567"]
    frame.iloc[22:26, at["phone"]] = ["1234567", "+1 (415) 555-0134", "020.7946.0958", "123456789012345"]
    return frame


def pos_phones(bad: int) -> pd.DataFrame:
    frame = clean_frame("pos_transactions", n=40)
    frame.iloc[:bad, frame.columns.get_loc("phone")] = "unknown"
    return frame


def tickets_broken() -> pd.DataFrame:
    frame = clean_frame("support_tickets", n=40)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    frame.iloc[0:7, at["closed_at"]] = "2026-09-01T00:00:00Z"  # closed before opened: 7 of 40 (at least 6.1% > 5%)
    frame.iloc[7:9, at["satisfaction_score"]] = "-1"  # 2 below 0: within the allowance
    frame.iloc[:, at["category"]] = ""  # emptied enum
    frame.iloc[9:11, at["contact_channel"]] = "fax"  # 2 unknown: within the allowance
    frame.iloc[11, at["closed_at"]] = None  # open ticket: not compared
    return frame


def ticket_emails(n: int, unknown: int) -> pd.DataFrame:
    frame = clean_frame("support_tickets", n=n)
    frame.iloc[:unknown, frame.columns.get_loc("email")] = "unknown"
    return frame


def reviews_broken() -> pd.DataFrame:
    frame = clean_frame("reviews", n=20)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    frame.iloc[0:5, at["rating"]] = "7"  # 5 of 18 numbers out of range (at least 7.7% > 5%)
    frame.iloc[5:7, at["rating"]] = "five"  # 2 unparseable: within the allowance
    frame.iloc[7, at["posted_at"]] = "1899-12-31T23:00:00Z"  # before the floor
    frame.iloc[8, at["review_id"]] = None  # no key
    frame.iloc[9:11, at["platform"]] = "  "  # 2 blank enums: within the allowance (10% allowed)
    return frame


def email_timestamps() -> pd.DataFrame:
    frame = clean_frame("email_events", n=40)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    frame.iloc[0, at["occurred_at"]] = None  # no timestamp
    frame.iloc[1, at["occurred_at"]] = "9999-12-31T00:00:00Z"  # beyond pandas' nanoseconds: still future
    frame.iloc[2, at["occurred_at"]] = "0100-01-01T00:00:00Z"  # and before the floor
    frame.iloc[3, at["occurred_at"]] = "2026-10-01T10:00:00.123456+02:00"
    frame.iloc[4, at["occurred_at"]] = " 2026-10-01 10:00 "  # whitespace tolerated
    frame.iloc[5, at["occurred_at"]] = "2026-13-01T10:00:00Z"  # month 13: neither ISO nor parseable
    frame.iloc[6:10, at["email"]] = "unknown"  # 4 of 40: the 10% allowed exactly
    return frame


def email_addresses(bad: int) -> pd.DataFrame:
    frame = clean_frame("email_events", n=5)
    frame.iloc[:bad, frame.columns.get_loc("email")] = "unknown"
    return frame


def crm_versions() -> pd.DataFrame:
    frame = clean_frame("crm_contacts", n=50)
    later = frame.iloc[:10].assign(updated_at="2026-10-03T10:00:00Z", city="elsewhere")  # new versions: fine
    clash = frame.iloc[[20]].assign(city="moved")  # same contact and version, other content: 2 rows, allowed
    frame = pd.concat([frame, later, clash])
    frame.iloc[30:43, frame.columns.get_loc("phone")] = "n/a"  # 13 of 61 (21.3%, at least 10.5% > 10%)
    return renumbered(frame)


def crm_conflicts(pairs: int) -> pd.DataFrame:
    frame = clean_frame("crm_contacts", n=150)
    clash = frame.iloc[:pairs].assign(city="moved")
    return renumbered(pd.concat([frame, clash]))


def app_without_column() -> pd.DataFrame:
    return clean_frame("app_events").drop(columns=["os", "occurred_at"])


def app_timestamps() -> pd.DataFrame:
    frame = clean_frame("app_events", n=30)
    at = {c: frame.columns.get_loc(c) for c in frame.columns}
    # NOW + FUTURE_TOLERANCE (two days) is 2026-11-03 00:00 UTC
    frame.iloc[0, at["occurred_at"]] = "2026-11-03T01:00:00+05:00"  # 2026-11-02 20:00 UTC: within the tolerance
    frame.iloc[1, at["occurred_at"]] = "2026-11-04T01:00:00+05:00"  # future once the offset is applied
    frame.iloc[2:30, at["os"]] = "Windows"
    frame.iloc[2:4, at["event_type"]] = [" APP_OPEN ", "Push_Open"]  # case and spaces are normalised
    return frame


# name -> (source, batch, {(rule, column): unexpected count} of every rule that must fail)
BROKEN: dict[str, tuple[str, Callable[[], pd.DataFrame], dict[tuple[str, str], int]]] = {
    "web: 12 re-sends of 112 rows (10.7%, at least 5.0%) pass": ("web_events", lambda: web_resends(12), {}),
    "web: 13 re-sends of 113 rows (11.5%, at least 5.6%) fail": ("web_events", lambda: web_resends(13), {
        ("key_unique", "event_id"): 13}),
    "web: conflicts, unknown and blank enums": ("web_events", web_conflicts_and_enums, {
        ("key_conflict_free", "event_id"): 6, ("enum_populated", "device_type"): 21,
        ("enum_known", "event_type"): 14}),
    "orders: a bit of everything": ("orders", orders_broken, {
        ("key_not_null", "order_id"): 1, ("key_conflict_free", "order_id"): 4,
        ("timestamp_iso8601", "order_updated_at"): 1, ("timestamp_not_future", "order_updated_at"): 1,
        ("enum_known", "status"): 27, ("amount_present", "total_amount"): 1,
        ("amount_parseable", "total_amount"): 1, ("amount_non_negative", "total_amount"): 1,
        ("currency_present", "currency"): 1, ("currency_known", "currency"): 1,
        ("email_well_formed", "email"): 14}),
    "orders: 2 placed after updated (allowance)": ("orders", lambda: orders_placed_after_updated(2), {}),
    "orders: 6 of 40 placed after updated (15%, at least 4.7%)": (
        "orders", lambda: orders_placed_after_updated(6), {}),
    "orders: 7 of 40 placed after updated (17.5%, at least 6.1%)": (
        "orders", lambda: orders_placed_after_updated(7), {("placed_before_updated", "placed_at"): 7}),
    "pos: numbers, 30% bad phones (the edge)": ("pos_transactions", pos_numbers_and_phones, {
        ("number_parseable", "items_count"): 7, ("number_in_range", "items_count"): 6}),
    "pos: 19 of 40 bad phones (at least 29.0%)": ("pos_transactions", lambda: pos_phones(19), {}),
    "pos: 20 of 40 bad phones (at least 31.2%)": ("pos_transactions", lambda: pos_phones(20), {
        ("phone_well_formed", "phone"): 20}),
    "tickets: closed before opened, emptied enum": ("support_tickets", tickets_broken, {
        ("opened_before_closed", "opened_at"): 7, ("enum_populated", "category"): 40}),
    "tickets: 5 of 45 e-mails 'unknown' (11.1%, at least 2.9%), the generator's night": (
        "support_tickets", lambda: ticket_emails(45, 5), {}),
    "reviews: ratings, floor, key": ("reviews", reviews_broken, {
        ("key_not_null", "review_id"): 1, ("timestamp_not_before_floor", "posted_at"): 1,
        ("number_in_range", "rating"): 5}),
    "email: timestamps out of range or missing": ("email_events", email_timestamps, {
        ("timestamp_present", "occurred_at"): 1, ("timestamp_iso8601", "occurred_at"): 1,
        ("timestamp_not_future", "occurred_at"): 1, ("timestamp_not_before_floor", "occurred_at"): 1}),
    "email: 2 of 5 bad (allowance)": ("email_events", lambda: email_addresses(2), {}),
    "email: 3 of 5 bad": ("email_events", lambda: email_addresses(3), {("email_well_formed", "email"): 3}),
    "crm: versions, a conflict, bad phones": ("crm_contacts", crm_versions, {("phone_well_formed", "phone"): 13}),
    "crm: 1 conflicting pair of 151 rows (allowance)": ("crm_contacts", lambda: crm_conflicts(1), {}),
    "crm: 2 conflicting pairs of 152 rows (2.6%, at least 0.5%)": ("crm_contacts", lambda: crm_conflicts(2), {}),
    "crm: 3 conflicting pairs of 153 rows (3.9%, at least 1.2%)": ("crm_contacts", lambda: crm_conflicts(3), {
        ("key_conflict_free", "contact_id"): 6}),
    "app: missing columns": ("app_events", app_without_column, {
        ("column_present", "occurred_at"): 0, ("column_present", "os"): 0}),
    "app: offsets and an unknown os": ("app_events", app_timestamps, {
        ("timestamp_not_future", "occurred_at"): 1, ("enum_known", "os"): 28}),
}


def outcome(result: QualityResult) -> dict[tuple[str, str], int]:
    return {(f.rule, f.column or ""): f.unexpected_count or 0 for f in result.failures}


def test_every_rule_is_broken_by_some_batch() -> None:
    broken = {rule for _, _, expected in BROKEN.values() for rule, _ in expected}
    every = {r.rule for source in {s for s, _, _ in BROKEN.values()} for r in raw_spec(source).rules}
    assert every | {"column_present"} == broken


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_batches_are_judged_as_fixed(name: str) -> None:
    source, batch, expected = BROKEN[name]
    result = validate_raw_frame(batch(), raw_spec(source, now=NOW))
    assert outcome(result) == expected, result.markdown()
    assert result.success is not expected
    assert all(f.error is None for f in result.failures)
    for failure in result.failures:
        if failure.rule == "column_present":
            assert failure.observed == "column missing"
            continue
        # a failure shows its file and line, at most 5 samples, in file order
        rows = failure.sample_rows
        assert 0 < len(rows) == min(failure.unexpected_count, 5) == len(failure.samples)
        assert all(r["_source_file"].startswith(source) for r in rows)
        assert [r["_row_number"] for r in rows] == sorted(r["_row_number"] for r in rows)


# --- the regular expressions in DuckDB and in Python ---------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding one load per source of a generated landing folder (1,500 people, 30 days)."""
    root = tmp_path_factory.mktemp("generated")
    generate(root / "gen", people=1500, days=30, seed=11)
    path = root / "warehouse.duckdb"
    con = connect(str(path))
    try:
        for source in SOURCES:
            load_source(con, source, root / "gen" / "landing", f"L-{source}", datetime(2026, 10, 1))
    finally:
        con.close()
    return path


# Values where Python's and RE2's defaults part: Unicode digits and spaces (Python's \d and \s take them, RE2's
# do not), the vertical tab (not in RE2's \s), a newline before the end (Python's $ matches there).
EDGES = {
    "ISO_TIMESTAMP": [
        "2026-10-01", "2026-10-01T10:00", "2026-10-01 10:00:00.123+02:00", "2026-10-01T10:00:00,5+0530",
        "2026-10-01T10:00:00 Z", " 2026-10-01T10:00Z\t", "2026-10-01\n", "2026-10-01\nx", "2026-10-01\v",
        "\u00a02026-10-01\u00a0", "\u0662\u0660\u0662\u0666-10-01", "２０２６-10-01", "2026-10-01T24:00",
        "2026-13-01", "01/10/2026 10:00", "2026-10-01T10:00:00+24:00", "not-a-date", "2026-10-01T10:00:00ZZ",
        "2026-10-01T10:00z", "2026-10-01T10:00:00+19:00", "2026-10-01T10:00:00 +02:00", "2026-10-01T10:00:00+18:00",
    ],
    "NUMBER": [
        "12", "-3.5", ".5", "5.", "+5", "1e3", "1E+3", " 12 ", "12\n", "12\v", "\u00a012", "- 5", "1,000",
        "\u0661\u0662", "NaN", "inf", "1e", "", "12abc", "0x1F",
    ],
    "EMAIL": [
        "a@b.co", "A.B+c@x-y.example.org", " a@b.com\n", "o'brien@x.com", "a@b", "a@-b.com", "a@b-.com",
        "é@x.com", "a@x.cöm", "a b@c.com", "a@b.com\u00a0", "a@b.c1", "a@b..com", "noemail@example.com",
        "unknown", "a@b.com\v", "{x}|y@z.io",
    ],
    "PHONE": [
        "+44 20 7946 0958", "(020) 7946-0958", "020.7946.0958", "1234567", "123456", "123456789012345",
        "1234567890123456", "+1 415 555 0134 ext", "++441234567", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
        "１２３４５６７", "12345\u00a067", "1234567\n", "\v1234567", "0000000000", "unknown", "+1/415/555/0134",
        "1-415-555-0134 ", "+", "",
    ],
}
# The patterns as they were before the gate ran them in DuckDB (Python only: \\d, \\s and a look-ahead).
ORIGINAL = {
    "ISO_TIMESTAMP": (
        r"^\s*\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
        r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?\s*(?:[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?\s*$"
    ),
    "NUMBER": r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$",
    "EMAIL": (
        r"^\s*[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\s*$"
    ),
    "PHONE": r"^(?=(?:\D*\d){7,15}\D*$)\s*\+?[\d\s().\-/]+\s*$",
}
# Edge values the original patterns judged otherwise: Unicode digits and spaces (now refused, as DuckDB refuses
# them when it parses a timestamp or a number), and timestamp forms the engines do not both parse (a comma
# fraction, a space before the offset, a lowercase z, an offset over 18 hours: rules.contract.TIMESTAMP_SHAPE).
CHANGED = {
    "ISO_TIMESTAMP": {"\u00a02026-10-01\u00a0", "\u0662\u0660\u0662\u0666-10-01", "２０２６-10-01",
                      "2026-10-01T10:00:00,5+0530", "2026-10-01T10:00:00 Z", "2026-10-01T10:00z",
                      "2026-10-01T10:00:00+19:00", "2026-10-01T10:00:00 +02:00"},
    "NUMBER": {"\u00a012", "\u0661\u0662"},
    "EMAIL": {"a@b.com\u00a0"},
    "PHONE": {"\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "１２３４５６７", "12345\u00a067"},
}
REGEX_COLUMNS = {
    "ISO_TIMESTAMP": [(s.name, c) for s in SOURCES.values() for c in (s.timestamp, *s.optional_timestamps)],
    "NUMBER": [(s.name, c) for s in SOURCES.values() for c in (*([s.amount] if s.amount else []), *s.numerics)],
    "EMAIL": [(s.name, "email") for s in SOURCES.values() if "email" in s.columns],
    "PHONE": [(s.name, "phone") for s in SOURCES.values() if "phone" in s.columns],
}


def in_duckdb(con: duckdb.DuckDBPyConnection, name: str, values: list[str]) -> list[bool]:
    """What the gate's SQL says of each value (the pattern as a literal, as the gate writes it)."""
    if name == "PHONE":
        low, high = patterns.PHONE_DIGITS
        test = (f"regexp_matches(v, {literal(patterns.PHONE_CHARACTERS)}) "
                f"and length(regexp_replace(v, '[^0-9]', '', 'g')) between {low} and {high}")
    else:
        test = f"regexp_matches(v, {literal(getattr(patterns, name))})"
    return [bool(r[0]) for r in con.execute(
        f"select {test} from unnest(?) with ordinality as t(v, i) order by i", [values]).fetchall()]


def in_python(name: str, values: list[str]) -> list[bool]:
    """What GX's pandas engine said (str.contains: re.search); PHONE also as the gate's two tests in Python."""
    found = [re.search(getattr(patterns, name), v) is not None for v in values]
    if name == "PHONE":
        assert found == [patterns.phone_well_formed(v) for v in values]
    return found


def original(name: str, values: list[str]) -> list[bool]:
    return [re.search(ORIGINAL[name], v) is not None for v in values]


def test_regular_expressions_agree_in_duckdb_and_python_on_edge_cases() -> None:
    con = duckdb.connect()
    try:
        for name, values in EDGES.items():
            duck = in_duckdb(con, name, values)
            assert dict(zip(values, duck, strict=True)) == dict(zip(values, in_python(name, values), strict=True)), name
            changed = {v for v, d, o in zip(values, duck, original(name, values), strict=True) if d != o}
            assert changed == CHANGED[name], name
        # the intent, spelled out: ASCII digits only, surrounding ASCII whitespace tolerated
        assert in_duckdb(con, "ISO_TIMESTAMP", ["٢٠٢٦-10-01", " 2026-10-01\n", "2026-10-01\v"]) == [False, True, True]
        assert in_duckdb(con, "PHONE", ["1234567", "123456", "1234567890123456", "１２３４５６７"]) == \
            [True, False, False, False]
    finally:
        con.close()


def test_regular_expressions_agree_in_duckdb_and_python_on_generated_data(generated: Path) -> None:
    con = duckdb.connect(str(generated), read_only=True)
    try:
        checked = 0
        for name, columns in REGEX_COLUMNS.items():
            for source, column in columns:
                values = [r[0] for r in con.execute(
                    f'select distinct "{column}" from raw.{source} where trim("{column}") <> \'\'').fetchall()]
                duck, python, before = in_duckdb(con, name, values), in_python(name, values), original(name, values)
                differ = [v for v, d, p, o in zip(values, duck, python, before, strict=True) if not d == p == o]
                assert not differ, (name, source, column, differ[:5])
                checked += len(values)
        assert checked > 10_000
    finally:
        con.close()


# --- the raw gates and the reject-rate gate on generated data ----------------------------------------------


def test_generated_loads_pass_every_raw_gate(generated: Path) -> None:
    from dagster import build_asset_check_context

    from orchestration.defs.quality.checks import raw_source_checks

    # the checks read a run's build file, <published>.build
    build = generated.with_name("journey.duckdb.build")
    shutil.copyfile(generated, build)
    resources = {"warehouse": resource_for(build, reports=generated.parent / "reports")}
    for definition in raw_source_checks():
        result = definition(build_asset_check_context(resources=resources))
        assert result.passed, result.description
        assert result.metadata["rows_validated"].value > 0


def reject_verdicts(path: Path) -> dict[str, tuple[bool, str]]:
    from orchestration.defs.quality.batch import judge_reject_rates

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {s: (v.passed, v.description) for s in SOURCES
                for v in [judge_reject_rates(con, s, raw_thresholds(s))]}
    finally:
        con.close()


def test_generated_data_passes_the_reject_rate_gate(generated: Path) -> None:
    # The case (`journey generate --people 1500 --days 30 --seed 11` once made an app_events file with 5
    # rejects of 88 rows, which a plain 5% share failed) is test_reject_rate_passes_small_noisy_files: since the
    # generator types person records with errors (issue 12) its draws differ, and no seed from 11 to 39 at this size
    # makes such a file any more. Here: the generated data's rejects reach quarantine and the gate passes them.
    con = duckdb.connect(str(generated), read_only=True)
    try:
        assert con.execute("select sum(rows_quarantined) from ops.loaded_files").fetchone()[0] > 0
    finally:
        con.close()
    verdicts = reject_verdicts(generated)
    assert all(passed for passed, _ in verdicts.values()), verdicts


@pytest.mark.parametrize(("people", "days", "seed"), [(400, 20, 2), (3000, 10, 5), (1000, 40, 23)])
def test_generated_data_passes_the_reject_rate_gate_at_other_sizes_and_seeds(
        tmp_path: Path, people: int, days: int, seed: int) -> None:
    generate(tmp_path / "gen", people=people, days=days, seed=seed)
    path = tmp_path / "warehouse.duckdb"
    con = connect(str(path))
    try:
        for source in SOURCES:
            load_source(con, source, tmp_path / "gen" / "landing", f"L-{source}", datetime(2026, 10, 1))
        read = con.execute("select sum(rows_read), sum(rows_quarantined) from ops.loaded_files").fetchone()
    finally:
        con.close()
    assert read[1] > 0  # the generator's invalid rows reached quarantine: the gate had something to judge
    verdicts = reject_verdicts(path)
    assert all(passed for passed, _ in verdicts.values()), verdicts


def binomial_tail(k: int, n: int, p: Fraction) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, p), exactly."""
    return 1 - sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))


def test_reject_bound_against_a_hand_computed_binomial_tail() -> None:
    """The Clopper-Pearson lower bound exceeds 5% exactly when k or more rejects in n rows would have probability
    below 1 - 0.99 at a true share of 5%: for 200 rows, P(X >= 19) = 0.0058 (fails) and P(X >= 18) = 0.0121
    (passes)."""
    from rules.thresholds import share_lower_bound

    p0, alpha = Fraction(5, 100), Fraction(1, 100)
    assert float(binomial_tail(19, 200, p0)) == pytest.approx(0.005824, abs=1e-6)
    assert float(binomial_tail(18, 200, p0)) == pytest.approx(0.012089, abs=1e-6)
    for k, n in [(19, 200), (18, 200), (5, 88), (40, 200), (12, 100), (11, 100), (68, 1000), (67, 1000)]:
        bound = share_lower_bound(k, n, 0.99)
        assert (bound > 0.05) == (binomial_tail(k, n, p0) < alpha), (k, n, bound)
        # the bound is the share at which k or more rejects have probability 1 - confidence
        assert float(binomial_tail(k, n, Fraction(bound))) == pytest.approx(0.01, rel=1e-6)
    assert share_lower_bound(0, 50, 0.99) == 0.0


def books(tmp_path: Path, files: list[tuple[str, int, int]]) -> Path:
    """A warehouse whose latest app_events load has these (file, rows read, rows quarantined)."""
    path = tmp_path / "books.duckdb"
    con = connect(str(path))
    try:
        ensure_tables(con)
        con.execute("insert into ops.loads (load_id, source, started_at) values ('L1', 'app_events', '2026-10-01')")
        for name, read, bad in files:
            con.execute("insert into ops.loaded_files (source, file_path, rows_read, rows_loaded, rows_quarantined, "
                        "status, load_id) values ('app_events', ?, ?, ?, ?, 'loaded', 'L1')", [name, read, read - bad, bad])
            for row in range(bad):
                con.execute("insert into quarantine.app_events (_source_file, _row_number, _rule, _load_id) "
                            "values (?, ?, 'missing_key', 'L1')", [name, row + 1])
    finally:
        con.close()
    return path


def test_reject_rate_fails_a_file_really_worse_than_the_threshold_and_says_share_bound_and_threshold(
        tmp_path: Path) -> None:
    from orchestration.defs.quality.batch import judge_reject_rates

    files = [("a/noisy_small.jsonl", 88, 5), ("b/broken.csv", 200, 40), ("c/borderline_fails.csv", 200, 19),
             ("d/borderline_passes.csv", 200, 18), ("e/tiny_garbage.csv", 4, 4), ("f/clean.csv", 1000, 3)]
    con = duckdb.connect(str(books(tmp_path, files)), read_only=True)
    try:
        verdict = judge_reject_rates(con, "app_events", raw_thresholds("app_events"))
    finally:
        con.close()
    assert not verdict.passed
    assert [f["file"] for f in verdict.failures] == ["b/broken.csv", "c/borderline_fails.csv"]
    broken = verdict.failures[0]
    assert broken["observed"] == ("40 of 200 rows quarantined (20.0%); at 99% confidence the share is at least "
                                  "13.8% (Clopper-Pearson lower bound), above the 5% allowed")
    assert broken["samples"] == ["missing_key: 40"]
    assert (broken["share"], round(broken["bound"], 4), broken["allowed"]) == (0.2, 0.1383, 0.05)
    assert "b/broken.csv: 40 of 200 rows quarantined (20.0%)" in verdict.description
    assert "at least 5.3%" in verdict.failures[1]["observed"]


def test_reject_rate_passes_small_noisy_files(tmp_path: Path) -> None:
    from orchestration.defs.quality.batch import judge_reject_rates

    con = duckdb.connect(str(books(tmp_path, [("a.jsonl", 88, 5), ("b.csv", 4, 4), ("c.csv", 200, 18)])),
                         read_only=True)
    try:
        verdict = judge_reject_rates(con, "app_events", raw_thresholds("app_events"))
    finally:
        con.close()
    assert verdict.passed and verdict.failures == []
    assert verdict.description == "app_events: 3 new file(s), no reject share above 5% at 99% confidence"
