"""The whole Dagster graph on real files: the bundled sample, a rerun, a re-delivered file and a file with bad rows
(on a warehouse of md5 customer ids, which that run re-keys)."""

import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest import discover_files
from orchestration.runner import execute, format_summary
from rules.contract import SOURCES
from tests.helpers import SAMPLE_TRUTH, copy_warehouse, count_records, query, snapshot
from tests.test_customer_ids import assert_rekeyed, make_legacy_warehouse

pytestmark = pytest.mark.slow


@pytest.fixture
def own_copy(sample_build, tmp_path, scratch) -> tuple[Path, Path]:
    """A private copy of the sample's landing folder and published warehouse (at the worker's scratch path, where
    dbt starts from the previous test's parse state), for a test that runs again."""
    landing = tmp_path / "landing"
    shutil.copytree(sample_build.landing, landing)
    return landing, copy_warehouse(sample_build.warehouse, scratch)


def test_a_warehouse_in_a_new_folder_starts_from_the_projects_parse_state(sample_build):
    """The sample's warehouse is new, in a folder of its own: its first dbt build starts from the parse state the
    session's `dbt parse` left for warehouse/journey.duckdb (same name, another folder), instead of parsing the whole
    project again (10-20 s: orchestration/lib/dbt_cli.py)."""
    log = (sample_build.warehouse.parent / (sample_build.warehouse.name + ".dbt") / "dbt.log").read_text()
    assert "Running with dbt" in log
    assert "profile has changed" not in log and "Starting full parse" not in log, log[:3000]


def test_sample_run_publishes_and_passes_every_check(sample_build):
    """`journey run` on the bundled sample: published, every check passed, every source loaded; it prints
    progress and a summary, and no warning or traceback; the summary's last line is the path of a file to open."""
    warehouse, out, err = sample_build.warehouse, sample_build.stdout, sample_build.stderr
    assert out.splitlines()[0].endswith(": OK"), out + err
    assert f"warehouse: {warehouse} (published)" in out and warehouse.exists()
    assert not Path(str(warehouse) + ".build").exists()
    checks = re.search(r"^checks: (\d+) passed, 0 failed$", out, re.MULTILINE)
    assert checks and int(checks[1]) > 200, out
    table = dict(re.findall(r"^(\w+) +(\d+) +\d+ +\d+ +\d+$", out, re.MULTILINE))  # source, new files, rows...
    assert set(table) == set(SOURCES) and all(int(files) > 0 for files in table.values()), out
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        touchpoints = con.execute("select count(*) from marts.fct_touchpoints").fetchone()[0]
    finally:
        con.close()
    assert 0 < customers < touchpoints and f"customers: {customers}    touchpoints: {touchpoints}" in out
    # quiet: no warning (Dagster's, dbt's, Python's) and no traceback, on either stream
    for stream in (out, err):
        assert not re.search(r"warn|traceback|error", stream, re.IGNORECASE), stream[-3000:]
    # progress: files per source, dbt models of total, gates, publishing
    for source in SOURCES:
        assert re.search(rf"loaded {source}: \d+ of \d+ files new", err), err
    models = re.findall(r"dbt models built: (\d+) of (\d+)\n", err)
    assert models and models[-1][0] == models[-1][1] and int(models[-1][1]) > 50, err
    assert re.search(r"raw gates: 24 of 24 done", err) and re.search(r"mart gates: (\d+) of \1 done", err), err
    assert f"published {warehouse}" in err
    label, _, path = out.splitlines()[-1].partition(": ")
    assert label and Path(path).is_absolute() and Path(path).is_file(), out[-500:]


def test_books_balance_for_every_file(sample_build):
    """rows in (counted independently) = rows loaded + rows quarantined, per file and per source."""
    landing, warehouse = sample_build.landing, sample_build.warehouse
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


def test_marts_cover_every_source_and_every_touchpoint_has_a_known_customer_or_none(sample_build):
    warehouse = sample_build.warehouse
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


def run_variables() -> dict[str, str]:
    """The environment, less what a library sets when it is first imported (scikit-learn, imported by the run's
    libraries, sets KMP_* for OpenMP): a test run alone imports it during the run, not before."""
    return {name: value for name, value in os.environ.items() if not name.startswith("KMP_")}


def test_rerun_and_redelivery_change_nothing(own_copy, monkeypatch):
    """A rerun and a re-delivered file change nothing. The rerun's build file is the copy the run started beside its
    set-up (orchestration/lib/warehouse.py "start_early_copy"), over the half-written one a killed run left."""
    from orchestration.lib import warehouse as wh

    landing, warehouse = own_copy
    stale = warehouse.with_name(warehouse.name + ".build.early")
    stale.write_bytes(b"stale bytes of a killed run")
    taken = []

    def recorded(published, build):
        taken.append(wh.take_early_copy(published, build))
        return taken[-1]

    monkeypatch.setattr("orchestration.defs.ingest.assets.take_early_copy", recorded)
    before, environment = snapshot(warehouse), run_variables()
    again = execute(landing, warehouse)
    assert run_variables() == environment  # a run leaves no variable behind (paths go through its resources)
    assert again.exit_code == 0, format_summary(again)
    assert len(taken) == 1 and taken[0].endswith("(started with the run)"), taken
    assert not stale.exists() and not wh.has_early_copy(warehouse.with_name(warehouse.name + ".build"))
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


def test_file_with_bad_rows_loads_good_rows_and_quarantines_the_rest(own_copy):
    """Also: the copy is first turned into a warehouse of md5 customer ids (as versions before keyed ids left it),
    and this run re-keys it (tests/test_customer_ids.py), and its customer_360 into a table (as versions before it
    became a view of the predictions left it), which this run replaces by the view: one run on the copy serves all."""
    landing, warehouse = own_copy
    legacy = make_legacy_warehouse(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create table marts.customer_360_table as select * from marts.customer_360")
        con.execute("drop view marts.customer_360")
        con.execute("alter table marts.customer_360_table rename to customer_360")
    finally:
        con.close()
    assert customer_360_kind(warehouse) == "BASE TABLE"
    fits = "select model, purpose, status, fitted_at, fitted_as_of from ops.prediction_fits order by all"
    fitted = query(warehouse, fits)
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
    assert_rekeyed(warehouse, legacy)
    assert customer_360_kind(warehouse) == "VIEW"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.customer_360").fetchone() == con.execute(
            "select count(*) from marts.dim_customers").fetchone()
        # the prediction step: new purchase days (every customer id re-keyed) on the fit's as-of date, so every buyer
        # is scored with the stored parameters (docs/prediction.md "Refits"), under the new ids, without a fit
        assert con.execute(fits).fetchall() == fitted and {row[2] for row in fitted} == {"converged"}
        assert con.execute(
            "select count(*), count(*) filter (where customer_id in (select customer_id from marts.dim_customers)) "
            "from marts.customer_predictions").fetchone() == con.execute(
            "select count(distinct customer_id), count(distinct customer_id) "
            "from intermediate.int_customers__purchase_days").fetchone()
    finally:
        con.close()


def customer_360_kind(warehouse: Path) -> str:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select table_type from information_schema.tables where table_schema = 'marts' "
                           "and table_name = 'customer_360'").fetchone()[0]
    finally:
        con.close()


def test_explain_customer_shows_one_customer_side_by_side(sample_build, capsys):
    from orchestration.cli import main

    warehouse = sample_build.warehouse
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


def test_evaluate_identity_against_the_sample_truth(sample_build, capsys):
    from orchestration.cli import main

    warehouse = sample_build.warehouse
    assert main(["evaluate-identity", "--truth", str(SAMPLE_TRUTH), "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out.lower()
    assert "precision" in out and "recall" in out
    from orchestration.lib.identity_eval import evaluate_identity

    quality = evaluate_identity(warehouse, SAMPLE_TRUTH)
    assert quality["precision"] >= 0.995  # a false merge is a privacy incident
    assert quality["recall"] >= 0.85


def test_dbt_log_of_a_run_keeps_info_lines_only(sample_build):
    """A run's dbt.log holds what ran and how it ended, not every SQL statement: the debug lines cost about a tenth
    of dbt's CPU (DBT_LOG_LEVEL_FILE=debug brings them back)."""
    log = sample_build.warehouse.with_name(sample_build.warehouse.name + ".dbt") / "dbt.log"
    levels = {json.loads(line)["info"]["level"] for line in log.read_text().splitlines() if line.startswith("{")}
    assert levels and "debug" not in levels, levels
    assert "info" in levels
