"""Which timestamp texts load, and as what instant: rules/contract.py `timestamp_sql` (ingestion's quarantine rule and
the raw gates) and dbt's `parse_timestamp` (staging) read the same texts alike, by hand-computed expectations and
over a grid of dates, times, offsets and padding. tests/test_spark_raw_gates.py runs the same grid on Spark.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import duckdb
import pytest

from expectations.patterns import ISO_TIMESTAMP
from rules.contract import timestamp_sql
from tests.helpers import dbt_macros

DATES = ["2026-10-01", "2026-1-1", "2026-02-30", "2026-10-1", "2026-13-01", "2024-02-29"]
TIMES = ["", "T10", "T10:00", " 10:00", "T10:00:00", "T9:00:00", "T10:00:00.5", "T10:00:00.1234567", "T10:00:00,5",
         "T24:00", "T24:00:00", "T23:59:60", "t10:00:00", "T10:0:00", "T10:00:00.", "T23:59:59.999999"]
OFFSETS = ["", "Z", "z", "+02:00", "+0200", "+02", "-05:30", "-0530", " Z", " +02:00", "+24:00", "+19:00", "+18:00",
           "-18:00", "+02:75", "+2:00", "UTC", " UTC", "+02:00:00", "GMT+2", "Z\u2028"]
PADDING = [("", ""), (" ", "\t"), ("", "\n"), ("\r\n", "\r\n"), ("\x0b", "\x0c"), ("\xa0", ""), ("", "\u2028"), ("", "\x85")]
# every combination but those of a date with an offset and no time (all of which are unparseable alike)
GRID = [p + d + t + o + s for d, t, o, (p, s) in itertools.product(DATES, TIMES, OFFSETS, PADDING)
        if t or not o or d == DATES[0]]
ZONES = ("UTC", "Europe/Berlin")

# (text, zone, what it reads as: naive UTC), worked out by hand
EXPECTED = [
    ("2026-10-01T10:00:00Z", "Europe/Berlin", datetime(2026, 10, 1, 10)),
    ("2026-10-01 10:00:00", "Europe/Berlin", datetime(2026, 10, 1, 8)),  # CEST, UTC+2
    ("2026-01-15", "Europe/Berlin", datetime(2026, 1, 14, 23)),  # CET, UTC+1
    ("2026-10-01T10:00Z", "UTC", datetime(2026, 10, 1, 10)),  # no seconds before the offset
    ("2026-10-01T10:00+02:00", "UTC", datetime(2026, 10, 1, 8)),
    ("2026-10-01T10:00:00+0200", "UTC", datetime(2026, 10, 1, 8)),
    ("2026-10-01T10:00+02", "UTC", datetime(2026, 10, 1, 8)),
    ("2026-10-01T10:00:00-05:30", "UTC", datetime(2026, 10, 1, 15, 30)),
    ("2026-10-01T10:00:00+18:00", "UTC", datetime(2026, 9, 30, 16)),
    ("2026-10-01T10:00:00.1234567Z", "UTC", datetime(2026, 10, 1, 10, 0, 0, 123456)),  # cut at the microsecond
    ("2026-10-01T10:00:00.9999999", "UTC", datetime(2026, 10, 1, 10, 0, 0, 999999)),
    # padding is trimmed before the offset is looked for (DuckDB read these two as Berlin time, offset ignored)
    (" 2026-10-01T10:00Z\t", "Europe/Berlin", datetime(2026, 10, 1, 10)),
    ("2026-10-01T10:00:00.5+02:00\n", "Europe/Berlin", datetime(2026, 10, 1, 8, 0, 0, 500000)),
    ("2026-10-01\r\n", "Europe/Berlin", datetime(2026, 9, 30, 22)),
    ("\x0b2026-10-01 10:00\x0c", "UTC", datetime(2026, 10, 1, 10)),
    # clock changes: a wall-clock time an autumn change repeats is the later instant (standard time), one a spring
    # change skips is read with the offset before the change (tests/test_spark_raw_gates.py: Spark reads them alike)
    ("2026-10-25T02:30", "Europe/Berlin", datetime(2026, 10, 25, 1, 30)),  # twice; CET, UTC+1
    ("2026-10-25T01:59:59", "Europe/Berlin", datetime(2026, 10, 24, 23, 59, 59)),  # before the repeated hour: CEST
    ("2026-10-25T03:00", "Europe/Berlin", datetime(2026, 10, 25, 2)),
    ("2026-03-29T02:30", "Europe/Berlin", datetime(2026, 3, 29, 1, 30)),  # never on a clock: CET, as before
    ("2026-11-01T01:30", "America/New_York", datetime(2026, 11, 1, 6, 30)),  # twice; EST, UTC-5
    ("2026-04-05T01:45", "Australia/Lord_Howe", datetime(2026, 4, 4, 15, 15)),  # twice; UTC+10:30 (summer: +11)
    # not read on either engine
    ("2026-10-01T24:00", "UTC", None), ("2026-10-01T10:00:00+24:00", "UTC", None),
    ("2026-10-01T10:00:00+19:00", "UTC", None), ("2026-10-01T10:00:00 Z", "UTC", None),
    ("2026-10-01T10:00:00 +02:00", "UTC", None), ("2026-10-01T10:00:00z", "UTC", None),
    ("2026-10-01T10:00:00 UTC", "UTC", None), ("2026-10-01T10", "UTC", None), ("2026-10-01Z", "UTC", None),
    ("\xa02026-10-01\xa0", "UTC", None), ("2026-10-01\u2028", "UTC", None), ("2026-02-30", "UTC", None),
    ("2026-10-01T23:59:60", "UTC", None), ("15/01/2026", "UTC", None), ("", "UTC", None),
]


def in_duckdb(expression: str, values: list[str]) -> list[Any]:
    """`expression` of a text column "v" for each value, in a DuckDB session in UTC (as the pipeline's)."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        return [r[0] for r in con.execute(
            f'select {expression} from unnest(?) with ordinality as t("v", i) order by i', [values]).fetchall()]
    finally:
        con.close()


def dbt_parse_timestamp(engine: str, column: str, tz: str) -> str:
    """The SQL dbt writes for `parse_timestamp(column, tz)` on `engine` ('duckdb' or 'spark')."""
    return str(dbt_macros(engine, "engine.sql", "parse_timestamp.sql").parse_timestamp(column, tz))


@pytest.mark.parametrize(("text", "tz", "expected"), EXPECTED, ids=[f"{t!r}-{z}" for t, z, _ in EXPECTED])
def test_the_rule_reads_each_text_as_worked_out_by_hand(text: str, tz: str, expected: datetime | None) -> None:
    assert in_duckdb(timestamp_sql("v", tz), [text]) == [expected]
    assert in_duckdb(dbt_parse_timestamp("duckdb", '"v"', tz), [text]) == [expected]


def test_ingestion_and_staging_read_every_text_of_the_grid_alike() -> None:
    assert len(GRID) == 15328
    for tz in ZONES:
        rule = in_duckdb(timestamp_sql("v", tz), GRID)
        assert rule == in_duckdb(dbt_parse_timestamp("duckdb", '"v"', tz), GRID), tz
        read = {v for v, r in zip(GRID, rule, strict=True) if r is not None}
        assert len(read) == 550, tz  # 2 dates x (no time, or 6 times x 9 offsets) x 5 paddings


def test_the_raw_gates_pattern_takes_the_texts_that_parse_and_impossible_dates_only() -> None:
    # the gates' rule timestamp_iso8601 (expectations.patterns.ISO_TIMESTAMP) judges the form; a text of that form
    # parses unless its date does not exist, which ingestion quarantines as unparseable. ISO_TIMESTAMP is built from
    # the parsing rule's shape, so the first assertion holds by construction: it keeps the two one if either changes.
    well_formed = in_duckdb(f"regexp_matches(v, '{ISO_TIMESTAMP}')", GRID)
    parsed = in_duckdb(timestamp_sql("v", "UTC"), GRID)
    assert {v for v, w, p in zip(GRID, well_formed, parsed, strict=True) if p is not None and not w} == set()
    assert {v.strip()[:10] for v, w, p in zip(GRID, well_formed, parsed, strict=True) if w and p is None} == {"2026-02-30"}
