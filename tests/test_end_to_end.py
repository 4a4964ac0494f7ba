"""The whole Dagster graph on real files: the bundled sample, a rerun, a re-delivered file and a file with bad rows."""

import csv
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.lib.contract import SOURCES
from orchestration.lib.ingest import discover_files, file_suffix
from orchestration.runner import execute, format_summary

pytestmark = pytest.mark.slow


def count_records(path: Path) -> int:
    """Records in an export file, counted independently of DuckDB (the 'rows in' of the books)."""
    suffix = file_suffix(path)
    if suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if suffix.startswith(".jsonl"):
            return sum(1 for line in handle if line.strip())
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def snapshot(warehouse: Path) -> dict[str, tuple]:
    """Row count and an order-independent content hash of every table readers see."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'quarantine', 'staging', 'marts') order by 1, 2"
        ).fetchall()
        out = {}
        for schema, name in tables:
            cols = [r[0] for r in con.execute(f'describe "{schema}"."{name}"').fetchall() if r[0] not in ("_loaded_at", "_load_id")]
            col_sql = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{name}"] = con.execute(
                f'select count(*), coalesce(sum(hash(row({col_sql}))), 0) from "{schema}"."{name}"'
            ).fetchone()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    from tests.conftest import SAMPLE_LANDING

    root = tmp_path_factory.mktemp("e2e")
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    warehouse = root / "warehouse" / "journey.duckdb"
    summary = execute(landing, warehouse)
    print(format_summary(summary))
    return landing, warehouse, summary


def test_sample_run_publishes_and_passes_every_check(first_run):
    _, warehouse, summary = first_run
    assert summary.exit_code == 0, format_summary(summary)
    assert summary.published and warehouse.exists()
    assert not Path(str(warehouse) + ".build").exists()
    assert summary.checks and all(c.passed for c in summary.checks)
    assert {s[0] for s in summary.sources} == set(SOURCES)
    assert summary.customers and summary.touchpoints and summary.touchpoints > summary.customers


def test_books_balance_for_every_file(first_run):
    """rows in (counted independently) = rows loaded + rows quarantined, per file and per source."""
    landing, warehouse, _ = first_run
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        registry = {
            r[0]: r[1:]
            for r in con.execute(
                "select file_path, status, rows_read, rows_loaded, rows_quarantined from ops.loaded_files"
            ).fetchall()
        }
        for source in SOURCES:
            files = discover_files(landing, source)
            assert files, f"the sample has no {source} exports"
            for _, path in files:
                status, read, loaded, quarantined = registry[path.relative_to(landing).as_posix()]
                if status == "duplicate":
                    continue
                assert read == count_records(path) == loaded + quarantined, path
            loaded_total, quarantined_total = con.execute(
                "select sum(rows_loaded), sum(rows_quarantined) from ops.loaded_files where source = ?", [source]
            ).fetchone()
            assert con.execute(f"select count(*) from raw.{source}").fetchone()[0] == loaded_total
            assert con.execute(f"select count(*) from quarantine.{source}").fetchone()[0] == quarantined_total
    finally:
        con.close()


def test_marts_cover_every_source_and_every_touchpoint_has_a_known_customer_or_none(first_run):
    _, warehouse, _ = first_run
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        sources = {r[0] for r in con.execute("select distinct source_name from marts.fct_touchpoints").fetchall()}
        assert sources == set(SOURCES)
        orphans = con.execute(
            "select count(*) from marts.fct_touchpoints t left join marts.dim_customers c using (customer_id) "
            "where t.customer_id is not null and c.customer_id is null"
        ).fetchone()[0]
        assert orphans == 0
        dupes = con.execute(
            "select count(*) - count(distinct customer_id) from marts.dim_customers"
        ).fetchone()[0]
        assert dupes == 0
    finally:
        con.close()


def test_rerun_and_redelivery_change_nothing(first_run):
    landing, warehouse, _ = first_run
    before = snapshot(warehouse)
    again = execute(landing, warehouse)
    assert again.exit_code == 0, format_summary(again)
    assert all(row[1] == 0 for row in again.sources), again.sources  # no new files
    assert snapshot(warehouse) == before

    # the same export delivered again under another name, in the latest folder
    _, original = discover_files(landing, "orders")[0]
    resent = discover_files(landing, "orders")[-1][1].parent / ("resent_" + original.name)
    shutil.copyfile(original, resent)
    third = execute(landing, warehouse)
    assert third.exit_code == 0, format_summary(third)
    assert snapshot(warehouse) == before
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        status = con.execute(
            "select status from ops.loaded_files where file_path = ?", [resent.relative_to(landing).as_posix()]
        ).fetchone()
    finally:
        con.close()
    assert status == ("duplicate",)


def test_file_with_bad_rows_loads_good_rows_and_quarantines_the_rest(first_run):
    landing, warehouse, _ = first_run
    cols = SOURCES["reviews"].columns
    folder = landing / "reviews" / "2026-10-31"
    folder.mkdir(parents=True, exist_ok=True)
    good = {c: "" for c in cols} | {"review_id": "R-NEW-1", "posted_at": "2026-10-30T12:00:00Z",
                                     "email": "new.reviewer@example.org", "platform": "website", "rating": "4",
                                     "product_id": "SKU-1"}
    rows = [
        good,
        good | {"review_id": "R-NEW-2", "posted_at": "yesterday"},
        good | {"review_id": ""},
        good | {"review_id": "R-NEW-3", "rating": "five"},
    ]
    with (folder / "late_reviews.jsonl").open("w", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    summary = execute(landing, warehouse)
    assert summary.exit_code == 0, format_summary(summary)
    reviews = [s for s in summary.sources if s[0] == "reviews"][0]
    assert reviews[1:] == (1, 5, 2, 3)
    reasons = {(src, rule): n for src, rule, n in summary.reasons}
    assert reasons == {("reviews", "unparseable_timestamp"): 1, ("reviews", "missing_key"): 1,
                       ("reviews", "malformed_record"): 1}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        ids = {r[0] for r in con.execute(
            "select review_id from staging.stg_reviews__reviews where review_id like 'R-NEW-%'").fetchall()}
        assert ids == {"R-NEW-1", "R-NEW-3"}
        rating = con.execute("select rating from staging.stg_reviews__reviews where review_id = 'R-NEW-3'").fetchone()
        assert rating == (None,)
        issue = con.execute(
            "select column_name, value, rule from ops.field_issues where _source_file like '%late_reviews.jsonl'"
        ).fetchall()
        assert issue == [("rating", "five", "unparseable_number")]
    finally:
        con.close()


def test_explain_customer_shows_one_customer_side_by_side(first_run, capsys):
    from orchestration.cli import main

    _, warehouse, _ = first_run
    assert main(["explain-customer", "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    for section in ("Raw records", "Touchpoints", "Sessions", "Paths", "Attribution credits"):
        assert section in out
    customer = out.split("`")[1]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.dim_customers where customer_id = ?", [customer]).fetchone()[0] == 1
    finally:
        con.close()


def test_evaluate_identity_against_the_sample_truth(first_run, capsys):
    from orchestration.cli import main
    from tests.conftest import SAMPLE_TRUTH

    _, warehouse, _ = first_run
    assert main(["evaluate-identity", "--truth", str(SAMPLE_TRUTH), "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out.lower()
    assert "precision" in out and "recall" in out
    from orchestration.lib.identity_eval import evaluate_identity

    quality = evaluate_identity(warehouse, SAMPLE_TRUTH)
    assert quality["precision"] >= 0.995  # a false merge is a privacy incident
    assert quality["recall"] >= 0.85
