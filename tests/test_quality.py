"""Quality gates: the raw rules on hand-made frames, the runner's reports, and the Dagster checks on DuckDB files.

A frame is judged as the gate judges a load (expectations.raw_profile.validate_raw_frame: the same DuckDB profile
and GX suite, in an in-memory DuckDB); tests/test_quality_raw.py holds the broken batches of every rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, build_asset_check_context

from expectations.raw import RAW_SPECS, RAW_SUITES, raw_spec
from expectations.raw_profile import validate_raw_frame
from expectations.validation import QualityResult, build_data_docs
from orchestration.defs.quality.checks import mart_checks, raw_source_checks
from orchestration.lib.warehouse import connect, ensure_tables
from rules.contract import SOURCES
from rules.thresholds import RAW, TIMESTAMP_FLOOR_ENV
from tests.helpers import resource_for

NOW = datetime(2026, 11, 1)
MAIN_TS = "2026-10-01T10:00:00Z"
# Optional timestamps in a plausible order relative to the main one.
OPTIONAL_TS = {"placed_at": "2026-10-01T09:00:00Z", "closed_at": "2026-10-02 09:00:00+01:00"}


def clean_frame(source: str, n: int = 20, load_id: str = "L1") -> pd.DataFrame:
    """Rows of `source` that satisfy its contract, as raw text with lineage."""
    src = SOURCES[source]
    data: dict[str, list[str]] = {}
    for column in src.columns:
        if column == src.key:
            values = [f"{source}-{i}" for i in range(n)]
        elif column == src.timestamp:
            values = [MAIN_TS] * n
        elif column in src.optional_timestamps:
            values = [OPTIONAL_TS[column]] * n
        elif column in src.enums:
            options = src.enums[column]
            values = [options[i % len(options)] for i in range(n)]
        elif column == src.amount:
            values = [f"{10 + i}.50" for i in range(n)]
        elif column == src.currency:
            values = ["EUR"] * n
        elif column in src.numerics:
            values = [str(1 + i % 5) for i in range(n)]
        elif column == "email":
            values = [f"person{i}@example.com" for i in range(n)]
        elif column == "phone":
            values = [f"+44 20 7946 {i:04d}" for i in range(n)]
        else:
            values = [f"{column}-{i}" for i in range(n)]
        data[column] = values
    frame = pd.DataFrame(data)
    frame["_source_file"] = f"{source}/2026-10-01/export.csv"
    frame["_row_number"] = range(1, n + 1)
    frame["_load_id"] = load_id
    return frame


def check(source: str, frame: pd.DataFrame) -> QualityResult:
    return validate_raw_frame(frame, raw_spec(source, now=NOW))


# --- suites on frames ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_has_a_suite_that_passes_a_clean_frame(source: str) -> None:
    result = check(source, clean_frame(source))
    assert result.success, result.markdown()
    assert result.rows == 20
    assert result.evaluated >= len(SOURCES[source].columns) + 5


def test_every_source_has_explicit_thresholds() -> None:
    assert set(RAW) == set(SOURCES) == set(RAW_SUITES) == set(RAW_SPECS)


def test_missing_required_column_is_named_and_its_rules_are_not_noise() -> None:
    frame = clean_frame("web_events").drop(columns=["occurred_at"])
    result = check("web_events", frame)
    assert not result.success
    failure = result.failure("column_present", "occurred_at")
    assert failure is not None and failure.observed == "column missing"
    # Rules on the missing column are skipped, not reported as GX errors.
    assert all(f.error is None for f in result.failures), result.markdown()
    assert result.failed_rules == ["column_present"]


def test_duplicate_keys_fail_with_the_observed_rate() -> None:
    frame = clean_frame("pos_transactions")
    frame["transaction_id"] = "T-1"
    result = check("pos_transactions", frame)
    failure = result.failure("key_unique", "transaction_id")
    assert failure is not None
    # Every row but the first repeats the key.
    assert failure.unexpected_count == 19 and failure.unexpected_percent == 95.0
    assert failure.samples[0] == "T-1"


def test_a_few_exact_resends_are_tolerated() -> None:
    frame = clean_frame("web_events", n=100)
    resent = pd.concat([frame, frame.iloc[:4]], ignore_index=True)  # 4 of 104 rows are re-sent copies: 3.8% < 5%
    assert check("web_events", resent).success
    # 6 of 106 (5.7% > 5%) is not evidently above 5% in a batch this size (lower 99% bound 1.7%): passes too
    assert check("web_events", pd.concat([frame, frame.iloc[:6]], ignore_index=True)).success
    resent = pd.concat([frame, frame.iloc[:13]], ignore_index=True)  # 13 of 113: 11.5%, at least 5.6% > 5%
    failure = check("web_events", resent).failure("key_unique", "event_id")
    assert failure is not None and failure.unexpected_count == 13
    assert "at least 5.55% with 99% confidence; allowed 5%" in failure.observed


def test_same_key_with_different_content_is_a_conflict() -> None:
    frame = clean_frame("web_events", n=100)
    one = frame.iloc[[0]].assign(event_type="login")
    # One conflicting pair (2 rows) is within the small-batch allowance; exact re-sends never conflict.
    assert check("web_events", pd.concat([frame, one, frame.iloc[[1]]], ignore_index=True)).success
    three = frame.iloc[[0, 1, 2]].assign(event_type="login")  # 6 of 103 rows conflict: at least 1.8% > 1%
    result = check("web_events", pd.concat([frame, three], ignore_index=True))
    failure = result.failure("key_conflict_free", "event_id")
    assert failure is not None and failure.unexpected_count == 6
    assert sorted(failure.samples)[:4] == ["web_events-0", "web_events-0", "web_events-1", "web_events-1"]


def test_versioned_sources_are_unique_per_key_and_version() -> None:
    frame = clean_frame("orders", n=50)
    later = frame.assign(order_updated_at="2026-10-03T10:00:00Z", status="shipped")
    assert check("orders", pd.concat([frame, later], ignore_index=True)).success
    clash = frame.iloc[[0, 1]].assign(status="cancelled")  # same orders, same version, other content
    result = check("orders", pd.concat([frame, clash], ignore_index=True))
    # 2 of 52 rows repeat (order_id, order_updated_at): under the 5% re-send rate; but 4 rows (7.7%) conflict.
    assert result.failed_rules == ["key_conflict_free"]
    assert result.failure("key_conflict_free").samples[0] == f"orders-0 @ {MAIN_TS}"


def test_null_or_blank_keys_fail() -> None:
    frame = clean_frame("reviews")
    frame.loc[0, "review_id"] = "  "
    assert "key_not_null" in check("reviews", frame).failed_rules


def test_future_timestamp_fails_with_sample_rows_naming_file_and_row() -> None:
    frame = clean_frame("web_events")
    frame.loc[3, "occurred_at"] = "2099-01-01T00:00:00Z"
    result = check("web_events", frame)
    failure = result.failure("timestamp_not_future", "occurred_at")
    assert failure is not None and failure.unexpected_count == 1
    assert failure.samples == ["2099-01-01T00:00:00"]
    assert failure.sample_rows[0]["_source_file"] == "web_events/2026-10-01/export.csv"
    assert failure.sample_rows[0]["_row_number"] == 4
    assert failure.sample_rows[0]["occurred_at"] == "2099-01-01T00:00:00Z"


def test_timestamp_offsets_are_applied_before_the_future_check() -> None:
    frame = clean_frame("app_events")
    # 2026-11-03 01:00 at +05:00 is 2026-11-02 20:00 UTC: within the two days' tolerance of NOW, so not "future";
    # 2026-11-04 01:00 at +05:00 (2026-11-03 20:00 UTC) is past it, as 2026-11-03 01:00 without an offset (UTC).
    frame.loc[0, "occurred_at"] = "2026-11-03T01:00:00+05:00"
    assert check("app_events", frame).success
    frame.loc[0, "occurred_at"] = "2026-11-04T01:00:00+05:00"
    assert check("app_events", frame).failed_rules == ["timestamp_not_future"]


def test_timestamp_before_floor_fails_and_the_floor_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = clean_frame("email_events")
    frame.loc[0, "occurred_at"] = "1899-12-31T23:00:00Z"
    assert check("email_events", frame).failed_rules == ["timestamp_not_before_floor"]
    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, "2026-10-02")
    assert check("email_events", clean_frame("email_events")).failed_rules == ["timestamp_not_before_floor"]


def test_timestamps_far_out_fail_their_rules_and_show_the_value_typed() -> None:
    frame = clean_frame("email_events", n=5)
    frame.loc[0, "occurred_at"] = "9999-12-31T00:00:00Z"
    frame.loc[1, "occurred_at"] = "0100-01-01T00:00:00Z"
    result = check("email_events", frame)
    assert sorted(result.failed_rules) == ["timestamp_not_before_floor", "timestamp_not_future"]
    assert all(f.unexpected_count == 1 for f in result.failures)
    assert result.failure("timestamp_not_future").samples == ["9999-12-31T00:00:00"]
    assert result.failure("timestamp_not_before_floor").samples == ["0100-01-01T00:00:00"]


def test_timestamp_that_is_not_iso8601_fails() -> None:
    frame = clean_frame("web_events")
    frame.loc[0, "occurred_at"] = "01/10/2026 10:00"
    assert "timestamp_iso8601" in check("web_events", frame).failed_rules


def test_negative_amount_fails_with_observed_value() -> None:
    frame = clean_frame("orders")
    frame.loc[2, "total_amount"] = "-5.00"
    frame.loc[3, "total_amount"] = "-0.00"  # zero is not negative
    result = check("orders", frame)
    failure = result.failure("amount_non_negative", "total_amount")
    assert failure is not None and failure.unexpected_count == 1
    assert failure.samples == [-5.0]
    assert result.failed_rules == ["amount_non_negative"]


def test_amount_needs_a_parseable_number_and_a_known_currency() -> None:
    frame = clean_frame("pos_transactions")
    frame.loc[0, "total_amount"] = "12,50"
    frame.loc[1, "currency"] = None
    frame.loc[2, "currency"] = "JPY"
    frame.loc[3, "currency"] = " eur "  # case and whitespace are normalised
    assert set(check("pos_transactions", frame).failed_rules) == {
        "amount_parseable", "currency_present", "currency_known"}


def test_unknown_enum_flood_fails_but_case_variants_pass() -> None:
    frame = clean_frame("web_events")
    frame["event_type"] = frame["event_type"].str.upper() + " "
    assert check("web_events", frame).success
    frame.loc[:9, "event_type"] = "hover"
    failure = check("web_events", frame).failure("enum_known", "event_type")
    assert failure is not None and failure.unexpected_percent == 50.0 and failure.samples[0] == "hover"


def test_emptied_enum_column_fails() -> None:
    frame = clean_frame("support_tickets")
    frame["category"] = ""
    assert check("support_tickets", frame).failed_rules == ["enum_populated"]


def test_malformed_email_flood_fails_but_a_few_placeholders_pass() -> None:
    frame = clean_frame("email_events")
    frame.loc[0, "email"] = "unknown"  # 1 of 20 = 5% <= 10%
    assert check("email_events", frame).success
    frame.loc[:5, "email"] = ["n/a", "unknown", "john.doe@", "@example.com", "a b@c.com", "x@y"]
    assert check("email_events", frame).success  # 6 of 20 (30%), but at least 9.8% with 99% confidence
    frame.loc[6, "email"] = "unknown"  # 7 of 20 (35%): at least 12.5%
    failure = check("email_events", frame).failure("email_well_formed", "email")
    assert failure is not None and failure.unexpected_count == 7 and failure.allowed_percent == 10.0


def test_malformed_phone_flood_fails() -> None:
    frame = clean_frame("crm_contacts")
    frame.loc[:6, "phone"] = ["123", "phone", "+44", "12-34", "n/a", "0", "x"]  # 7 of 20: at least 12.5% > 10%
    failure = check("crm_contacts", frame).failure("phone_well_formed", "phone")
    assert failure is not None and failure.unexpected_count == 7


def test_numbers_out_of_range_and_timestamps_out_of_order_fail() -> None:
    reviews = clean_frame("reviews")
    reviews["rating"] = "7"
    assert check("reviews", reviews).failed_rules == ["number_in_range"]
    tickets = clean_frame("support_tickets")
    tickets["closed_at"] = "2026-09-01T00:00:00Z"
    assert check("support_tickets", tickets).failed_rules == ["opened_before_closed"]


def test_rate_rules_tolerate_a_couple_of_values_in_a_tiny_batch_but_strict_rules_do_not() -> None:
    frame = clean_frame("email_events", n=5)
    frame.loc[:1, "email"] = "unknown"  # 40%, but only 2 values: a small nightly batch is not failed by them
    assert check("email_events", frame).success
    frame.loc[:2, "email"] = "unknown"
    failure = check("email_events", frame).failure("email_well_formed", "email")
    assert failure is not None and "or up to 2" in failure.observed
    frame = clean_frame("email_events", n=5)
    frame.loc[0, "occurred_at"] = "2099-01-01"
    assert check("email_events", frame).failed_rules == ["timestamp_not_future"]


# --- marts ----------------------------------------------------------------------------------------------------


def marts_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "email": ["a@x.com", "b@x.com", None]})
    touchpoints = pd.DataFrame({
        "touchpoint_id": [f"t{i}" for i in range(6)],
        "customer_id": ["c1", "c1", "c2", "c3", None, None],  # anonymous touchpoints have no customer
        "occurred_at": pd.to_datetime(["2026-10-01 10:00"] * 6),
        "source_name": ["web_events", "orders", "app_events", "reviews", "web_events", "pos_transactions"],
        "channel": ["organic", "web", "app", "review", "paid_search", "store"],
    })
    return touchpoints, customers


# --- reports --------------------------------------------------------------------------------------------------


def test_build_data_docs_writes_pages_an_index_and_a_summary(tmp_path: Path) -> None:
    bad = clean_frame("orders")
    bad.loc[0, "total_amount"] = "-1"
    results = [check("orders", bad), check("reviews", clean_frame("reviews"))]
    index = build_data_docs(results, tmp_path / "reports")
    assert index == tmp_path / "reports" / "index.html"
    page = (tmp_path / "reports" / "raw.orders.html").read_text()
    assert "raw.orders" in page and "_share__amount_non_negative__total_amount" in page
    text = index.read_text()
    assert "raw.orders" in text and "raw.reviews" in text and "FAILED" in text and "amount_non_negative" in text
    assert "amount_non_negative" in (tmp_path / "reports" / "summary.md").read_text()
    # A later run for one suite keeps the others in the index.
    build_data_docs([check("orders", clean_frame("orders"))], tmp_path / "reports")
    text = index.read_text()
    assert "raw.reviews" in text and "FAILED" not in text


def test_data_docs_pages_render_offline_with_their_styling(tmp_path: Path, caplog) -> None:
    """GX's page, not the plain fallback, even when GX's result carries numpy scalars (numpy 2 reprs broke GX's
    num_to_str: "invalid value: 0.0 of type float64"); no stylesheet, script or image is fetched from the network:
    they are served from the reports folder."""
    import re

    import numpy as np

    result = check("orders", clean_frame("orders"))
    result.gx_result.statistics["success_percent"] = np.float64(0.0)  # what GX's own statistics hold
    result.gx_result.results[0].result["observed_value"] = np.float64(0.0)
    caplog.set_level("WARNING")
    build_data_docs([result], tmp_path / "reports")
    assert "could not render" not in caplog.text
    page = (tmp_path / "reports" / "raw.orders.html").read_text()
    assert "Success Percent" in page and "Expectation Validation Result" in page
    fetched = re.findall(r"<(?:link|script|img)[^>]*(?:href|src)=[\"']([^\"']+)", page)
    assert fetched and not [url for url in fetched if "//" in url]
    assert "great-expectations-web-assets" not in page
    for url in fetched:
        assert (tmp_path / "reports" / url).is_file(), url
    assert {"static/bootstrap.min.css", "static/jquery.min.js"} <= set(fetched)
    fonts = re.findall(r"url\(([^)]+)\)", (tmp_path / "reports" / "static/fontawesome/css/all.min.css").read_text())
    assert fonts and all((tmp_path / "reports/static/fontawesome/css" / f.split("?")[0].strip("'\"")).is_file()
                         for f in fonts)


def test_pages_rendered_one_after_another_are_those_a_new_renderer_makes() -> None:
    """The reports reuse one GX page renderer per process (expectations/validation.py): each page must be the one a
    renderer made for it alone would write (GX's random section ids aside), whatever was rendered before it."""
    import re

    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    from expectations.validation import _plain, _render_page, offline_page

    bad = clean_frame("orders")
    bad.loc[0, "total_amount"] = "-1"
    results = [check("orders", bad), check("reviews", clean_frame("reviews")), check("orders", clean_frame("orders"))]
    ids = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for result in results:
        reused = _render_page(result)
        alone = offline_page(DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(
            _plain(result.gx_result))))
        assert result.suite_name in reused and ids.sub("-", reused) == ids.sub("-", alone)


# --- Dagster checks -------------------------------------------------------------------------------------------


def test_factories_make_blocking_checks_on_the_right_keys() -> None:
    raw = raw_source_checks()
    specs = [spec for definition in raw for spec in definition.check_specs]
    assert {(s.asset_key, s.name) for s in specs} == {
        (AssetKey(["raw", source]), f"raw_{source}_quality") for source in SOURCES}
    assert all(s.blocking for s in specs)
    marts = [spec for definition in mart_checks() for spec in definition.check_specs]
    assert {s.asset_key for s in marts} == {
        AssetKey(["marts", name]) for name in (
            "fct_touchpoints", "dim_customers", "customer_identifiers", "fct_sessions", "fct_conversion_paths",
            "fct_attribution", "customer_360", "fct_customer_journeys", "customer_predictions",
            "prediction_model_parameters")}
    assert all(s.blocking for s in marts)
    touchpoints = next(s for s in marts if s.asset_key == AssetKey(["marts", "fct_touchpoints"]))
    assert [d.asset_key for d in touchpoints.additional_deps] == [AssetKey(["marts", "dim_customers"])]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A run's build file (the file the checks read)."""
    path = tmp_path / "journey.duckdb.build"
    con = connect(str(path))
    try:
        ensure_tables(con)
    finally:
        con.close()
    return path


def load(path: Path, source: str, load_id: str, frame: pd.DataFrame | None, started_at: str) -> None:
    """Record a load in ops.loads and append its rows to raw.<source>, as ingestion does."""
    con = connect(str(path))
    try:
        con.execute("insert into ops.loads (load_id, source, started_at) values (?, ?, ?)",
                    [load_id, source, started_at])
        if frame is not None:
            con.register("batch", frame.assign(_load_id=load_id))
            con.execute(f"insert into raw.{source} by name select * from batch")
    finally:
        con.close()


def run_raw_check(build: Path, source: str, **kwargs) -> object:
    (definition,) = raw_source_checks(sources=[source], **kwargs)
    return definition(build_asset_check_context(resources={"warehouse": resource_for(build)}))


def test_raw_check_passes_on_a_clean_latest_load_and_writes_a_report(warehouse: Path) -> None:
    load(warehouse, "orders", "L1", clean_frame("orders"), "2026-10-01")
    result = run_raw_check(warehouse, "orders")
    assert result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.metadata["rows_validated"].value == 20
    assert result.metadata["load_id"].value == "L1"
    assert result.metadata["failed_expectations"].value == []
    report = Path(result.metadata["quality_report"].value)
    assert report == warehouse.parent / "quality_reports" / "raw.orders.html" and report.exists()
    # The check closed its connection: a writer can open the file again.
    duckdb.connect(str(warehouse)).close()


def test_raw_check_validates_only_the_latest_load(warehouse: Path) -> None:
    bad = clean_frame("web_events", load_id="L1")
    bad["occurred_at"] = "2099-01-01T00:00:00Z"
    load(warehouse, "web_events", "L1", bad, "2026-10-01")
    assert not run_raw_check(warehouse, "web_events").passed
    load(warehouse, "web_events", "L2", clean_frame("web_events"), "2026-10-02")
    result = run_raw_check(warehouse, "web_events")
    assert result.passed and result.metadata["load_id"].value == "L2"


def test_raw_check_fails_with_failed_expectations_in_metadata(warehouse: Path) -> None:
    load(warehouse, "web_events", "L1", clean_frame("web_events"), "2026-10-01")
    bad = clean_frame("web_events")
    bad.loc[0, "occurred_at"] = "2099-01-01T00:00:00Z"
    bad["event_type"] = "hover"
    load(warehouse, "web_events", "L2", bad, "2026-10-02")
    result = run_raw_check(warehouse, "web_events")
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    failures = {f["rule"]: f for f in result.metadata["failed_expectations"].value}
    assert set(failures) == {"timestamp_not_future", "enum_known"}
    assert failures["timestamp_not_future"]["unexpected_count"] == 1
    assert failures["timestamp_not_future"]["sample_rows"][0]["_row_number"] == 1
    assert failures["enum_known"]["samples"][0] == "hover"
    assert result.metadata["rows_validated"].value == 20
    assert "enum_known" in result.description and "timestamp_not_future" in result.description


def test_raw_check_on_the_warehouse_judges_as_the_frame_path_does(warehouse: Path) -> None:
    """The check reads the latest load in the warehouse; on the same rows it finds what validate_raw_frame finds,
    rule by rule, with the same counts and samples (the other load is not read)."""
    load(warehouse, "orders", "L0", clean_frame("orders", n=40).assign(status="Teleported"), "2026-09-30")
    bad = clean_frame("orders", n=40)
    bad.loc[0, "order_id"] = "  "                              # blank key
    bad.loc[1, "order_updated_at"] = "2099-01-01T00:00:00Z"     # future
    bad.loc[2, "order_updated_at"] = "01/10/2026 10:00"         # not ISO 8601
    bad.loc[3:30, "status"] = "Teleported"                     # unknown enum flood (case-insensitive check)
    bad.loc[4, "total_amount"] = "-5.00"                        # negative
    bad.loc[5, "currency"] = " "                                # blank currency
    bad.loc[31:39, "order_id"] = [f"orders-{i}" for i in range(21, 30)]  # keys and versions again, with
    bad.loc[31:39, "total_amount"] = "99.00"                             # other content: conflicts
    bad.loc[8, "placed_at"] = "2026-10-03T00:00:00Z"            # placed after it was updated
    load(warehouse, "orders", "L1", bad, "2026-10-01")
    result = run_raw_check(warehouse, "orders")
    expected = validate_raw_frame(bad, raw_spec("orders"))
    assert not result.passed and not expected.success

    def essentials(failures: list[dict]) -> list[tuple]:
        return [(f["rule"], f["column"] or "", f["unexpected_count"] or 0, f["samples"],
                 [r["_row_number"] for r in f["sample_rows"]]) for f in failures]

    got = essentials(result.metadata["failed_expectations"].value)
    assert got == essentials([f.as_dict() for f in expected.failures])
    assert {"key_not_null", "key_unique", "key_conflict_free", "timestamp_not_future", "timestamp_iso8601",
            "enum_known", "amount_non_negative"} <= {g[0] for g in got}


def test_raw_check_passes_when_there_is_nothing_new(warehouse: Path) -> None:
    result = run_raw_check(warehouse, "reviews")
    assert result.passed and "no load" in result.metadata["note"].value
    load(warehouse, "reviews", "L1", None, "2026-10-01")
    result = run_raw_check(warehouse, "reviews")
    assert result.passed and result.metadata["rows_validated"].value == 0
    assert "added no rows" in result.metadata["note"].value


def test_raw_check_counts_repeats_over_the_whole_load(warehouse: Path) -> None:
    frame = clean_frame("app_events", n=30)
    frame["event_id"] = [f"e{i % 10}" for i in range(30)]  # every key three times: 20 repeats
    load(warehouse, "app_events", "L1", frame, "2026-10-01")
    result = run_raw_check(warehouse, "app_events")
    assert result.metadata["profile"].value == "aggregated in DuckDB"
    assert not result.passed
    failure = next(f for f in result.metadata["failed_expectations"].value if f["rule"] == "key_unique")
    assert failure["unexpected_count"] == 20
    # the samples are the repeats (second and third copies), in file order, with their file and line
    assert [r["_row_number"] for r in failure["sample_rows"]] == [11, 12, 13, 14, 15]
    assert failure["samples"] == ["e0", "e1", "e2", "e3", "e4"]


@pytest.mark.parametrize("broken", [False, True])
def test_a_failed_raw_check_blocks_what_depends_on_the_source(warehouse: Path, broken: bool) -> None:
    frame = clean_frame("web_events")
    if broken:
        frame["occurred_at"] = "2099-01-01T00:00:00Z"

    @dg.asset(key=AssetKey(["raw", "web_events"]))
    def raw_web_events() -> None:
        load(warehouse, "web_events", "L1", frame, "2026-10-01")

    @dg.asset(deps=[AssetKey(["raw", "web_events"])])
    def staging() -> int:
        return 1

    checks = raw_source_checks(sources=["web_events"])
    result = dg.materialize([raw_web_events, staging, *checks], raise_on_error=False,
                            resources={"warehouse": resource_for(warehouse)})
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    evaluations = [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()]
    assert evaluations == [("raw_web_events_quality", not broken)]
    assert (AssetKey(["staging"]) in materialized) is not broken
    assert AssetKey(["raw", "web_events"]) in materialized


def test_raw_check_without_a_build_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "journey.duckdb.build"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        run_raw_check(missing, "orders")


def write_marts(path: Path, touchpoints: pd.DataFrame, customers: pd.DataFrame) -> None:
    con = connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.register("t", touchpoints)
        con.register("c", customers)
        con.execute("create or replace table marts.fct_touchpoints as select * from t")
        con.execute("create or replace table marts.dim_customers as select * from c")
    finally:
        con.close()


def run_mart_checks(build: Path, **kwargs) -> dict[str, object]:
    results = {}
    for definition in mart_checks(**kwargs):
        spec = next(iter(definition.check_specs))
        results[spec.asset_key.path[-1]] = definition(
            build_asset_check_context(resources={"warehouse": resource_for(build)}))
    return results


def test_mart_checks_pass_then_fail_on_an_unknown_customer(warehouse: Path) -> None:
    touchpoints, customers = marts_frames()
    write_marts(warehouse, touchpoints, customers)
    results = run_mart_checks(warehouse)
    assert results["fct_touchpoints"].passed and results["dim_customers"].passed
    assert results["fct_touchpoints"].metadata["rows_validated"].value == 6
    touchpoints.loc[5, "customer_id"] = "c404"
    write_marts(warehouse, touchpoints, customers)
    results = run_mart_checks(warehouse)
    assert not results["fct_touchpoints"].passed and results["dim_customers"].passed
    failure = results["fct_touchpoints"].metadata["failed_expectations"].value[0]
    assert failure["rule"] == "customer_known" and failure["samples"] == ["t5"]
    assert failure["sample_rows"] == [{"touchpoint_id": "t5", "customer_id": "c404"}]


def test_the_build_step_imports_the_gates_library_in_the_background(tmp_path):
    """The first gate finds Great Expectations imported: the build step (materialized alone, in a fresh process, on
    a new warehouse) started importing it in a thread, and a gate waits for that thread before importing."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    landing = root / "seeds" / "landing"  # only checked: the build step reads no export
    code = ("import sys\n"
            "import dagster as dg\n"
            "from orchestration.defs.ingest.assets import build_warehouse\n"
            "from orchestration.defs.quality import checks\n"
            "from orchestration.defs.resources import WarehouseResource\n"
            "assert 'great_expectations' not in sys.modules\n"
            f"warehouse = WarehouseResource(warehouse_path={str(tmp_path / 'w' / 'journey.duckdb')!r}, "
            f"landing_dir={str(landing)!r}, reports_dir={str(tmp_path / 'reports')!r})\n"
            "assert dg.materialize([build_warehouse], resources={'warehouse': warehouse}).success\n"
            "checks.wait_for_imports(checks.GATES_IMPORTS)\n"
            "assert {'great_expectations', 'expectations.raw_profile', 'expectations.mart_integrity'} <= set(sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root)
    assert run.returncode == 0, run.stderr[-2000:]


def test_dagsters_sqlalchemy_queries_do_not_race_the_gates_library_imported_in_the_background():
    """Great Expectations imports `sqlalchemy.orm`, which installs a hook that SQLAlchemy's core calls for values of
    unknown types part-way through its import; Dagster's instance queries through that core while the step that
    started the import goes on. A night failed so (raw__crm_contacts: "partially initialized module
    'sqlalchemy.orm.exc'"). Here the process's main thread asks SQLAlchemy's core to inspect a value all the while
    the real background import runs, as Dagster's queries do, and must never meet a half-imported module."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    code = ("import sys\n"
            "import time\n"
            "import sqlalchemy\n"
            "from sqlalchemy import inspection\n"
            "from orchestration.defs.quality import checks\n"
            "assert 'sqlalchemy.orm' not in sys.modules, 'the test needs a process without sqlalchemy.orm'\n"
            "class Value: pass\n"
            "thread = checks.import_in_background()\n"
            "calls = 0\n"
            "while thread.is_alive():\n"
            "    inspection.inspect(Value(), False)\n"
            "    calls += 1\n"
            "    time.sleep(0.0005)\n"
            "assert calls > 0 and 'great_expectations' in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root)
    assert run.returncode == 0, run.stderr[-2000:]
