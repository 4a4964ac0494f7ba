"""Fault injection: broken exports on top of a published warehouse.

Batch-level faults fail the run with a message naming the source, file, rule and observed value, and leave the
published warehouse exactly as it was. Row-level faults (one bad night with every kind of bad row) load the good
rows, quarantine the rest with reasons, and the books balance: rows read = rows loaded + rows quarantined.
"""

import csv
import gzip
import io
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from generator import generate
from orchestration.runner import execute, format_summary
from rules.contract import SOURCES
from tests.helpers import BuiltWarehouse, built_once, copy_warehouse, snapshot

pytestmark = pytest.mark.slow

# History from 2015, before the default first partition (2020-01-01): the partitions start at the landing folder's
# oldest export (test_history_older_than_2020_just_loads).
PEOPLE, DAYS, START = 300, 12, date(2015, 3, 2)
TONIGHT = (START + timedelta(days=DAYS + 1)).isoformat()  # the folder date of the faulty delivery


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> BuiltWarehouse:
    """A generated landing folder and the warehouse published from it (the state before the bad night)."""
    def build(root: Path) -> BuiltWarehouse:
        generate(root / "gen", people=PEOPLE, days=DAYS, seed=11, start=START)
        landing, warehouse = root / "gen" / "landing", root / "warehouse" / "journey.duckdb"
        assert "JOURNEY_FIRST_EXPORT_DATE" not in os.environ  # no setting: the landing says where history starts
        summary = execute(landing, warehouse)
        assert summary.exit_code == 0, format_summary(summary)
        return BuiltWarehouse(landing, warehouse, summary)

    return built_once(tmp_path_factory, "faults", build)


@pytest.fixture
def night(baseline, tmp_path, scratch):
    """A private copy of the baseline (landing + published warehouse) to break; the warehouse at the worker's
    scratch path, where dbt starts from the previous test's parse state."""
    landing = tmp_path / "landing"
    shutil.copytree(baseline.landing, landing)
    return landing, copy_warehouse(baseline.warehouse, scratch)


def test_history_older_than_2020_just_loads(baseline):
    """Exports from 2015 load, build and publish with no setting (JOURNEY_FIRST_EXPORT_DATE unset): every source,
    every export date from the oldest folder on."""
    assert baseline.summary.exit_code == 0 and baseline.summary.published, format_summary(baseline.summary)
    assert {s[0] for s in baseline.summary.sources} == set(SOURCES)
    landed = sorted({p.name for p in baseline.landing.glob("*/*") if p.is_dir()})
    con = duckdb.connect(str(baseline.warehouse), read_only=True)
    try:
        dates = con.execute("select min(export_date), max(export_date), count(distinct export_date) "
                            "from ops.loaded_files where status = 'loaded'").fetchone()
        touchpoints = con.execute("select min(occurred_at), count(*) from marts.fct_touchpoints").fetchone()
    finally:
        con.close()
    assert landed[0] < "2020-01-01" and (dates[0].isoformat(), dates[1].isoformat(), dates[2]) == (
        landed[0], landed[-1], len(landed))
    assert touchpoints[0].year == 2015 and touchpoints[1] > 1000


def latest_file(landing: Path, source: str) -> Path:
    return sorted((landing / source).glob("*/*"))[-1]


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """An export file's header and rows as text (any format)."""
    name = path.name
    if name.endswith(".parquet"):
        table = pq.read_table(path)
        return table.column_names, [{k: ("" if v is None else v) for k, v in r.items()} for r in table.to_pylist()]
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if ".jsonl" in name:
            rows = [json.loads(line) for line in handle if line.strip()]
            return list(rows[0]), [{k: ("" if v is None else v) for k, v in r.items()} for r in rows]
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def write_csv(path: Path, header: list[str], rows: list[dict], extra_lines: list[bytes] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8") + b"".join(extra_lines)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def tonight_rows(landing: Path, source: str, n: int | None = None) -> tuple[list[str], list[dict]]:
    """n rows (default: as many as the latest export) shaped like the source's export, re-keyed as tonight's."""
    header, template = read_rows(latest_file(landing, source))
    key, ts = SOURCES[source].key, SOURCES[source].timestamp
    rows = [dict(template[i % len(template)]) for i in range(n or len(template))]
    for i, row in enumerate(rows):
        row[key] = f"NIGHT-{source}-{i}"
        row[ts] = f"{TONIGHT}T01:{i % 60:02d}:00Z"
    return header, rows


def assert_failed_and_untouched(summary, warehouse: Path, before: dict, *needles: str) -> str:
    text = format_summary(summary)
    assert summary.exit_code != 0, text
    assert not summary.published
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text}"
    assert snapshot(warehouse) == before, "the published warehouse changed after a failed run"
    return text


def test_a_malformed_setting_fails_once_before_anything_loads(night, monkeypatch):
    """A typo in JOURNEY_QUALITY_TIMESTAMP_FLOOR stops the run at its first step, naming the variable."""
    from rules.thresholds import TIMESTAMP_FLOOR_ENV

    landing, warehouse = night
    before = snapshot(warehouse)
    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, "2010-13-01")
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, TIMESTAMP_FLOOR_ENV, "2010-13-01", "YYYY-MM-DD")
    assert len(summary.failures) == 1 and summary.failures[0].startswith("ops__build_warehouse")
    assert summary.sources == []  # no raw source was loaded
    assert not warehouse.with_name(warehouse.name + ".build.early").exists()  # the copy it started, not taken


def test_truncated_gzip_fails_naming_the_file(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "web_events")
    path = write_csv(landing / "web_events" / TONIGHT / "web_events.csv.gz", header, rows * 20)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, "web_events", str(path))


def test_missing_required_column_fails_naming_file_and_column(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "orders")
    header = [c for c in header if c != "currency"]
    path = write_csv(landing / "orders" / TONIGHT / "orders.csv", header, rows)
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, "orders", str(path), "currency")


def test_renamed_column_is_not_read_as_empty(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "reviews")
    renamed = ["stars" if c == "rating" else c for c in header]
    for row in rows:
        row["stars"] = row.pop("rating")
    path = write_csv(landing / "reviews" / TONIGHT / "reviews.csv", renamed, rows)
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, str(path), "rating", "stars")


def test_unterminated_quote_fails_naming_the_file(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "orders", 5)
    path = write_csv(landing / "orders" / TONIGHT / "orders.csv", header, rows, [b'X-1,"2026-10-01T00:00:00Z,oops\n'])
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, "orders", str(path))


def test_a_file_of_nothing_but_invalid_rows_fails_the_reject_rate_gate(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "email_events")
    for row in rows:
        row["occurred_at"] = "not-a-date"
    write_csv(landing / "email_events" / TONIGHT / "email_events.csv", header, rows)
    summary = execute(landing, warehouse)
    text = assert_failed_and_untouched(summary, warehouse, before, "raw_email_events_reject_rate",
                                       f"email_events/{TONIGHT}/email_events.csv", "unparseable_timestamp")
    assert f"{len(rows)} of {len(rows)} rows quarantined" in text
    # nothing was lost: the rows are in the run's build file's quarantine, with the rule they broke
    build = duckdb.connect(str(warehouse) + ".build", read_only=True)
    try:
        assert build.execute(
            "select count(*) from quarantine.email_events where _source_file like ? and _rule = 'unparseable_timestamp'",
            [f"%{TONIGHT}%"],
        ).fetchone()[0] == len(rows)
    finally:
        build.close()


def test_collapsed_export_volume_fails_the_volume_gate(night):
    landing, warehouse = night
    before = snapshot(warehouse)
    header, rows = tonight_rows(landing, "web_events", 3)
    write_csv(landing / "web_events" / TONIGHT / "web_events.csv.gz", header, rows)
    summary = execute(landing, warehouse)
    assert_failed_and_untouched(summary, warehouse, before, "raw_web_events_volume", "3 rows for export date")


def test_one_bad_night_loads_every_good_row_and_quarantines_every_bad_one(night):
    """Malformed lines, invalid UTF-8, garbage/future timestamps, negative amounts, a conflicting duplicate key,
    an extra column, an empty file, a file delivered twice and a source that sends nothing, all in one night."""
    landing, warehouse = night
    shutil.rmtree(landing / "reviews")  # reviews sends nothing tonight (and has no folder at all)

    # 5 bad rows in 200: a bad night, but under the 5% reject-rate gate
    header, rows = tonight_rows(landing, "orders", 198)
    rows[1]["order_updated_at"] = "garbage"
    rows[2]["order_updated_at"] = "2031-01-01T00:00:00Z"
    rows[3]["total_amount"] = "-12.00"
    good_orders = 198 - 3
    orders = write_csv(
        landing / "orders" / TONIGHT / "orders.csv", [*header, "coupon_code"],
        [r | {"coupon_code": "WELCOME"} for r in rows],
        [b"too,few,fields\n", b"NIGHT-bad-utf8,2026-10-01T00:00:00Z" + b",\xff\xfe" + b"," * 14 + b"\n"],
    )
    (landing / "orders" / TONIGHT / "orders_again.csv").write_bytes(orders.read_bytes())  # delivered twice
    (landing / "orders" / TONIGHT / "empty.csv").write_bytes(b"")

    # the same ticket id twice with different content: the later delivery wins in staging
    header, tickets = tonight_rows(landing, "support_tickets", 1)
    first = tickets[0] | {"category": "billing"}
    write_csv(landing / "support_tickets" / TONIGHT / "a_first.csv", header, [first])
    later = (date.fromisoformat(TONIGHT) + timedelta(days=1)).isoformat()
    write_csv(landing / "support_tickets" / later / "b_second.csv", header, [first | {"category": "returns"}])

    summary = execute(landing, warehouse)
    assert summary.exit_code == 0, format_summary(summary)
    by_source = {s[0]: s[1:] for s in summary.sources}
    assert "reviews" in by_source and by_source["reviews"] == (0, 0, 0, 0)
    assert by_source["orders"] == (2, 200, good_orders, 5)  # orders.csv and empty.csv; the copy is skipped
    reasons = {rule: n for src, rule, n in summary.reasons if src == "orders"}
    assert reasons == {"unparseable_timestamp": 1, "timestamp_in_future": 1, "negative_amount": 1, "malformed_record": 2}

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        status = dict(con.execute(
            "select file_path, status from ops.loaded_files where export_date >= ?", [TONIGHT]).fetchall())
        assert status[f"orders/{TONIGHT}/orders_again.csv"] == "duplicate"
        assert status[f"orders/{TONIGHT}/empty.csv"] == "empty"
        assert con.execute("select count(*) from raw.orders where coupon_code = 'WELCOME'").fetchone()[0] == good_orders
        assert con.execute(
            "select column_name from ops.schema_changes where source = 'orders'").fetchall() == [("coupon_code",)]
        # nothing bad reached staging or the marts
        assert con.execute("select count(*) from staging.stg_shop__orders where total_amount < 0").fetchone()[0] == 0
        night_orders = con.execute(
            "select count(distinct order_id) from staging.stg_shop__orders where order_id like 'NIGHT-%'").fetchone()[0]
        assert night_orders == good_orders
        category = con.execute(
            "select category from staging.stg_support__tickets where ticket_id = ?", [first["ticket_id"]]).fetchall()
        assert category == [("returns",)]
        # the books balance for every file ever loaded
        unbalanced = con.execute(
            "select count(*) from ops.loaded_files where rows_read <> rows_loaded + rows_quarantined").fetchone()[0]
        assert unbalanced == 0
        for source in SOURCES:
            loaded, quarantined = con.execute(
                "select coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) from ops.loaded_files "
                "where source = ?", [source]).fetchone()
            assert con.execute(f"select count(*) from raw.{source}").fetchone()[0] == loaded
            assert con.execute(f"select count(*) from quarantine.{source}").fetchone()[0] == quarantined
    finally:
        con.close()
