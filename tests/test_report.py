"""The journey report: charts drawn from the marts, one self-contained HTML file, rendered by headless Chromium.

The browser tests need Debian's `chromium` (`make test` installs it with apt when it is missing and it can) and
Playwright (a dev dependency; it drives the system's chromium, it downloads no browser of its own). Without a
browser they fail in CI and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.report import (
    REPORT_NAME,
    ReportError,
    _box_statistics,
    build_charts,
    build_spark_charts,
    write_report,
)

CHARTS = ("funnel", "sankey", "attribution", "retention", "stages", "lifecycle", "revenue", "prediction", "quality")


def tiny_warehouse(path: Path, empty: tuple[str, ...] = ()) -> Path:
    """The tables the report reads, with a few hand-written rows (columns the report does not read left out);
    the tables named in `empty` are created without rows."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema ops")
    tables = {
        "marts.fct_funnels": ("funnel_name varchar, cohort_week date, step_order int, step_name varchar, "
                              "reached_count int, dropped_off_count int",
                              ["('shop', '2026-09-07', 1, 'visit', 10, 0)", "('shop', '2026-09-14', 1, 'visit', 5, 0)",
                               "('shop', '2026-09-07', 2, 'order', 6, 4)", "('shop', '2026-09-14', 2, 'order', 2, 3)"]),
        "marts.fct_channel_transitions": ("step_number int, from_channel varchar, to_channel varchar, "
                                          "transitions_count int, converting_transitions_count int",
                                          ["(0, '(start)', 'email', 3, 1)", "(1, 'email', '(conversion)', 1, 1)",
                                           "(1, 'email', 'direct', 2, 0)", "(2, 'direct', '(no conversion)', 2, 0)",
                                           "(7, 'direct', 'email', 9, 9)"]),
        "marts.fct_attribution_daily": ("conversion_date date, model varchar, channel varchar, "
                                        "attributed_conversions double, attributed_revenue_amount double",
                                        ["('2026-09-07', 'last_touch', 'email', 1, 10)",
                                         "('2026-09-08', 'last_touch', 'email', 1, 30)",
                                         "('2026-09-08', 'first_touch', 'direct', 2, 40)"]),
        "marts.fct_markov_channel_attribution": ("channel varchar, attributed_conversions double, "
                                                 "attributed_revenue double",
                                                 ["('email', 1.25, 25)", "('direct', 0.75, 15)"]),
        "marts.fct_retention_cohorts": ("cohort_week date, period_number int, cohort_customers_count int, "
                                        "active_retention_rate double, purchase_retention_rate double",
                                        ["('2026-09-07', 0, 4, 1.0, 1.0)", "('2026-09-07', 1, 4, 0.5, 0.25)",
                                         "('2026-09-14', 0, 2, 1.0, 1.0)"]),
        "marts.fct_customer_journeys": ("awareness_at timestamp, consideration_at timestamp, first_purchase_at "
                                        "timestamp, repeat_purchase_at timestamp, retention_at timestamp, "
                                        "advocacy_at timestamp, days_first_touch_to_first_purchase double, "
                                        "days_awareness_to_consideration double, "
                                        "days_consideration_to_first_purchase double, "
                                        "days_first_to_repeat_purchase double, days_first_purchase_to_advocacy double",
                                        ["('2026-09-01', '2026-09-02', '2026-09-05', null, null, null, 4, 1, 3, "
                                         "null, null)",
                                         "('2026-09-01', null, null, null, null, null, null, null, null, null, null)"]),
        "marts.fct_customer_lifecycle_weeks": ("week_start date, lifecycle_status varchar",
                                               ["('2026-09-07', 'new')", "('2026-09-07', 'new')",
                                                "('2026-09-14', 'returning')", "('2026-09-14', 'dormant')"]),
        "marts.fct_touchpoints": ("occurred_at timestamp, source_name varchar, is_conversion boolean, "
                                  "reporting_revenue_amount decimal(18, 2)",
                                  ["('2026-09-08 10:00', 'orders', true, 20.5)",
                                   "('2026-09-09 10:00', 'orders', true, 10)",
                                   "('2026-09-09 11:00', 'pos_transactions', true, 7.25)",
                                   "('2026-09-09 12:00', 'web_events', false, null)"]),
        "marts.dim_customers": ("customer_id varchar", ["('c1')", "('c2')"]),
        "marts.customer_predictions": ("customer_id varchar, expected_revenue_365d double",
                                       ["('c1', 120.5)", "('c2', 30)"]),
        "marts.prediction_backtest": ("frequency_bucket varchar, customers int, predicted_purchases double, "
                                      "actual_purchases double",
                                      ["('10+', 1, 4.5, 5)", "('0', 7, 1.5, 1)", "('2', 2, 2.5, 2)",
                                       "('total', 10, 8.5, 8)"]),
        "ops.loaded_files": ("export_date date, source varchar, rows_loaded bigint, rows_quarantined bigint, "
                             "status varchar",
                             ["('2026-09-07', 'orders', 90, 10, 'loaded')", "('2026-09-07', 'orders', 0, 0, 'duplicate')",
                              "('2026-09-08', 'orders', 50, 0, 'loaded')", "('2026-09-08', 'reviews', 5, 1, 'loaded')"]),
    }
    for table, (columns, rows) in tables.items():
        con.execute(f"create table {table} ({columns})")
        if table not in empty:
            con.execute(f"insert into {table} values {', '.join(rows)}")
    con.close()
    return path


def test_charts_show_the_marts_numbers(tmp_path):
    charts, facts = build_charts(tiny_warehouse(tmp_path / "w.duckdb"))
    by_key = {c.key: c for c in charts}
    assert tuple(by_key) == CHARTS and not any(c.empty for c in charts)
    assert facts["customers"] == "2" and facts["export dates"] == "2026-09-07 to 2026-09-08"

    funnel = by_key["funnel"].figure.data[0]
    assert list(funnel.y) == ["visit", "order"] and list(funnel.x) == [15, 8]  # summed over cohorts
    assert list(funnel.customdata) == [0, 7] and funnel.text[1] == "8 (53%, -7)"

    sankey = by_key["sankey"].figure.data[0]
    labels = list(sankey.node.label)
    links = {(labels[s], labels[t]): v for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value,
                                                          strict=True)}
    # positions count the touches; the step-7 transition is past the chart's first steps
    assert links == {("(start)", "email #1"): 3, ("email #1", "(conversion)"): 1, ("email #1", "direct #2"): 2,
                     ("direct #2", "(no conversion)"): 2}

    bars = {(t.name, t.xaxis): dict(zip(t.x, t.y, strict=True)) for t in by_key["attribution"].figure.data}
    assert bars[("last_touch", "x")] == {"direct": 0.0, "email": 2.0}  # two days summed
    assert bars[("last_touch", "x2")] == {"direct": 0.0, "email": 40.0}
    assert bars[("markov (standard model)", "x")] == {"direct": 0.75, "email": 1.25}
    assert bars[("markov (standard model)", "x2")] == {"direct": 15.0, "email": 25.0}

    active, purchasing = by_key["retention"].figure.data
    assert list(active.x) == [0, 1] and list(active.y) == ["2026-09-07 (4)", "2026-09-14 (2)"]
    assert [list(r) for r in active.z] == [[1.0, 0.5], [1.0, None]]
    assert [list(r) for r in purchasing.z] == [[1.0, 0.25], [1.0, None]]

    reached, *gaps = by_key["stages"].figure.data
    assert list(reached.y) == [2, 1, 1, 0, 0, 0]
    # one box per gap with a value (one customer's 3 days: every statistic 3); gaps nobody has are left out
    boxes = {g.name: (g.q1, g.median, g.q3, g.lowerfence, g.upperfence) for g in gaps}
    assert set(boxes) == {"awareness → consideration", "consideration → first purchase",
                          "first touch → first purchase"}
    assert boxes["consideration → first purchase"] == ((3.0,), (3.0,), (3.0,), (3.0,), (3.0,))

    lifecycle = {t.name: list(t.y) for t in by_key["lifecycle"].figure.data}
    assert lifecycle == {"new": [2, 0], "returning": [0, 1], "dormant": [0, 1]}

    revenue = {t.name: (list(t.x), list(t.y)) for t in by_key["revenue"].figure.data}
    assert revenue["online (orders)"] == ([date(2026, 9, 7)], [30.5])  # the week of Monday 7 September
    assert revenue["in store (till sales)"] == ([date(2026, 9, 7)], [7.25])

    histogram, predicted, actual = by_key["prediction"].figure.data
    # 30 and 120.5 in 40 bins of (120.5 - 30) / 40 = 2.2625: the first and the last bin, drawn at their middles
    assert list(histogram.y) == [1, 1] and list(histogram.width) == [2.2625, 2.2625]
    assert list(histogram.x) == [30 + 0.5 * 2.2625, 30 + 39.5 * 2.2625]
    # buckets in numeric order ("10+" after "2"), the total left out; customers in brackets
    assert list(predicted.x) == ["0 (7)", "2 (2)", "10+ (1)"] and list(predicted.y) == [1.5, 2.5, 4.5]
    assert list(actual.y) == [1, 2, 5]

    quality = {(t.name, t.yaxis): list(t.y) for t in by_key["quality"].figure.data}
    assert quality[("orders", "y")] == [90, 50] and quality[("orders", "y2")] == [10, 0]
    assert quality[("reviews", "y")] == [5] and quality[("reviews", "y2")] == [1]


def spark_folder_of(warehouse: Path, folder: Path, generation: int = 3) -> Path:
    """A Spark warehouse folder as `journey run --engine spark` leaves it, holding the marts of a DuckDB warehouse:
    each mart's Parquet files in tables/marts__g<N>.db/<table>/, the books' ops.loaded_files, generations.json."""
    tables = folder / "tables" / f"marts__g{generation}.db"
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse}' as w (read_only)")
        for (table,) in con.execute("select table_name from information_schema.tables "
                                    "where table_catalog = 'w' and table_schema = 'marts'").fetchall():
            (tables / table).mkdir(parents=True)
            con.execute(f"copy w.marts.{table} to '{tables / table / 'part-00000.parquet'}' (format parquet)")
        con.execute(f"attach '{folder / 'books.duckdb'}' as books")
        con.execute("create schema books.ops")
        con.execute("create table books.ops.loaded_files as select * from w.ops.loaded_files")
    finally:
        con.close()
    (folder / "generations.json").write_text(f'{{"published": {generation}, "previous": null}}\n', encoding="utf-8")
    return folder


def test_the_report_of_a_spark_warehouse_reads_its_published_generation(tmp_path):
    """`journey report --engine spark`: the same charts and facts from the Parquet files of the published generation
    and the books as from the DuckDB warehouse holding the same marts; a folder without a published generation is
    a clear error."""
    warehouse = tiny_warehouse(tmp_path / "w.duckdb")
    folder = spark_folder_of(warehouse, tmp_path / "spark")
    on_spark, spark_facts = build_spark_charts(folder)
    on_duckdb, duck_facts = build_charts(warehouse)
    assert [c.figure.to_json() for c in on_spark] == [c.figure.to_json() for c in on_duckdb]
    assert {k: v for k, v in spark_facts.items() if k not in ("warehouse", "drawn at")} == {
        k: v for k, v in duck_facts.items() if k not in ("warehouse", "drawn at")}
    (folder / "generations.json").write_text('{"published": null, "previous": null}\n', encoding="utf-8")
    with pytest.raises(ReportError, match="no published generation"):
        build_spark_charts(folder)


def test_box_statistics_are_tukeys_boxes_worked_out_in_duckdb():
    con = duckdb.connect()
    con.execute("create table t as select * from (values (1), (2), (3), (4), (100), (null)) v(x)")
    # quartiles 2, 3, 4 (linear interpolation); 1.5 x IQR = 3: whiskers reach 1 (>= -1) and 4 (<= 7, 100 is out)
    assert _box_statistics(con, "t", "x") == (2.0, 3.0, 4.0, 1.0, 4.0, 22.0, 5)
    con.execute("create table empty as select 1.5 as x where false")
    assert _box_statistics(con, "empty", "x") is None


def charts_after(tmp_path: Path, statement: str) -> dict:
    """The charts of the tiny warehouse once `statement` has changed it, by key."""
    warehouse = tiny_warehouse(tmp_path / "w.duckdb")
    con = duckdb.connect(str(warehouse))
    con.execute(statement)
    con.close()
    charts, _ = build_charts(warehouse)
    return {c.key: c for c in charts}


def test_a_prediction_histogram_of_one_value_is_one_bar(tmp_path):
    """Every buyer with the same expected revenue: no range to cut into bins, so one bar of plotly's width."""
    charts = charts_after(tmp_path, "update marts.customer_predictions set expected_revenue_365d = 42.5")
    histogram = charts["prediction"].figure.data[0]
    assert list(histogram.x) == [42.5] and list(histogram.y) == [2] and histogram.width is None


def test_empty_marts_still_draw_a_page_that_says_so(tmp_path):
    warehouse = tiny_warehouse(tmp_path / "w.duckdb", empty=("marts.fct_retention_cohorts", "ops.loaded_files",
                                                             "marts.customer_predictions"))
    charts, _ = build_charts(warehouse)
    assert {c.key for c in charts if c.empty} == {"retention", "quality", "prediction"}
    page = write_report(warehouse, tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count('class="chart empty"') == 3 and "no rows in the warehouse yet" in page


def test_a_warehouse_from_before_the_predictions_draws_the_rest(tmp_path):
    charts = charts_after(tmp_path, "drop table marts.customer_predictions")
    assert {key for key, c in charts.items() if c.empty} == {"prediction"}


def test_a_warehouse_that_is_not_built_is_a_clear_error(tmp_path, capsys):
    from orchestration.cli import main

    with pytest.raises(ReportError, match="no warehouse at"):
        write_report(tmp_path / "missing.duckdb", tmp_path / "r.html")
    con = duckdb.connect(str(tmp_path / "half.duckdb"))
    con.execute("create schema marts; create table marts.dim_customers (customer_id varchar)")
    con.close()
    assert main(["report", "--warehouse", str(tmp_path / "half.duckdb"), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert "lacks marts.fct_funnels" in err and "ops.loaded_files" in err and "not a built journey warehouse" in err
    assert not (tmp_path / "r.html").exists()


def test_report_command_writes_beside_the_quality_reports(tmp_path, capsys, monkeypatch):
    from orchestration.cli import main

    monkeypatch.delenv("JOURNEY_QUALITY_REPORTS", raising=False)
    (tmp_path / "wh").mkdir()
    warehouse = tiny_warehouse(tmp_path / "wh" / "journey.duckdb")
    assert main(["report", "--warehouse", str(warehouse)]) == 0
    out = tmp_path / "wh" / "quality_reports" / REPORT_NAME
    assert str(out) in capsys.readouterr().out and out.stat().st_size > 1_000_000  # plotly.js is inside
    monkeypatch.setenv("JOURNEY_QUALITY_REPORTS", str(tmp_path / "elsewhere"))
    assert main(["report", "--warehouse", str(warehouse)]) == 0
    assert (tmp_path / "elsewhere" / REPORT_NAME).exists()


def external_references(page: str) -> list[str]:
    """Scripts, styles, images or frames the page would fetch from a network."""
    return re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^>]*>", page, re.I)


@pytest.mark.slow
def test_every_successful_run_writes_the_report_and_names_it_last(sample_build):
    """`journey run` on the sample (tests/conftest.py: the command, in a process of its own) wrote the report
    beside the quality reports and printed its path as the summary's last line."""
    report = sample_build.warehouse.parent / "quality_reports" / REPORT_NAME
    assert "journey report NOT written" not in sample_build.stdout
    assert sample_build.stdout.splitlines()[-1] == f"journey report (open in a browser): {report}"
    page = report.read_text(encoding="utf-8")
    assert external_references(page) == []
    assert external_references('<script src="https://cdn.plot.ly/plotly.min.js"></script>')  # the check can fail
    assert all(f'id="{key}" class="chart"' in page for key in CHARTS)


# --- in a real browser -------------------------------------------------------------------------------------------

DRAWN = """() => [...document.querySelectorAll('section.chart')].map(section => {
    const plot = section.querySelector('.js-plotly-plot');
    const marks = plot ? plot.querySelectorAll(
        'g.trace path, g.trace image, g.hm image, .sankey-link, .sankey-node rect') : [];
    const drawn = [...marks].filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
    return {id: section.id, traces: plot && plot._fullData ? plot._fullData.length : 0, marks: drawn.length};
})"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "no chromium on PATH: `make chromium` installs Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def open_in_browser(page: Path, screenshot: Path) -> dict:
    """Open `page` in headless Chromium with every network request refused, after its scripts ran: what each chart
    section drew, the console's errors and uncaught exceptions, the requests the page tried beyond its own file."""
    from playwright.sync_api import sync_playwright

    errors, requests = [], []

    def route(r):
        url = r.request.url
        if url == page.as_uri():
            r.continue_()
        else:
            requests.append(url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            tab.route("**/*", route)
            tab.goto(page.as_uri(), wait_until="load")
            tab.wait_for_timeout(500)  # plotly draws some traces on the next animation frame
            charts = tab.evaluate(DRAWN)
            tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"charts": charts, "errors": errors, "requests": requests}


@pytest.mark.slow
def test_report_renders_every_chart_offline_in_chromium(sample_build, tmp_path):
    shot = tmp_path / "report.png"
    seen = open_in_browser(sample_build.warehouse.parent / "quality_reports" / REPORT_NAME, shot)
    assert seen["errors"] == [] and seen["requests"] == []
    assert [c["id"] for c in seen["charts"]] == list(CHARTS)
    assert all(c["traces"] > 0 and c["marks"] > 0 for c in seen["charts"]), seen["charts"]
    assert shot.stat().st_size > 100_000  # a long page of charts, not a blank one


def test_browser_check_sees_errors_fetches_and_empty_charts(tmp_path):
    """The browser check can fail: a chart without rows draws no marks, and an injected error and an external
    script are seen."""
    warehouse = tiny_warehouse(tmp_path / "w.duckdb", empty=("marts.fct_customer_lifecycle_weeks",))
    page = write_report(warehouse, tmp_path / "r.html")
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", '<script src="https://cdn.example.com/x.js"></script>'
                                            '<script>throw new Error("injected")</script></body>'), encoding="utf-8")
    seen = open_in_browser(page, tmp_path / "r.png")
    assert any("injected" in e for e in seen["errors"])
    assert seen["requests"] == ["https://cdn.example.com/x.js"]
    marks = {c["id"]: c["marks"] for c in seen["charts"]}
    assert marks["lifecycle"] == 0 and all(n > 0 for key, n in marks.items() if key != "lifecycle")
