"""The journey report: one self-contained HTML file of charts drawn from the published warehouse's marts.

`journey report` writes it on demand, and every successful `journey run` / `journey backfill` writes it beside
the quality reports. The page embeds plotly.js and its data (no network fetch, so it opens offline and can be
mailed as one file). Every chart reads a mart (schema `marts`); the data-quality panel reads the books of the
ingestion (`ops.loaded_files`). The warehouse is opened read-only, so a report can be drawn while a run builds.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

REPORT_NAME = "journey_report.html"
HISTOGRAM_BINS = 40  # bars of the expected-revenue histogram
WHISKER_IQR = 1.5  # box whiskers reach the furthest values within this many interquartile ranges of the box (Tukey)
SANKEY_STEPS = 5  # the Sankey shows the first transitions of the paths (later ones are thin and many)
ONLINE_SOURCES = {"orders": "online (orders)", "pos_transactions": "in store (till sales)"}

# The tables the report reads: a warehouse without one of them is not a built warehouse.
REQUIRED_TABLES = ("marts.fct_funnels", "marts.fct_channel_transitions", "marts.fct_attribution_daily",
                   "marts.fct_markov_channel_attribution", "marts.fct_retention_cohorts",
                   "marts.fct_customer_journeys", "marts.fct_customer_lifecycle_weeks", "marts.fct_touchpoints",
                   "marts.dim_customers", "ops.loaded_files")


class ReportError(RuntimeError):
    """The warehouse cannot be drawn (missing, unreadable, or not built yet)."""


@dataclass
class Chart:
    key: str  # the HTML id of its section (tests and links find a chart by it)
    title: str
    note: str  # one sentence under the title: what is shown and which table it comes from
    figure: go.Figure
    empty: bool = False  # no rows to draw (the chart says so)


def write_report(warehouse: Path, out: Path, engine: str = "duckdb") -> Path:
    """Draw the report of `warehouse` into `out` (written to a temporary file, then renamed: a reader of the old
    report never sees half a page). With engine "spark", `warehouse` is a Spark warehouse folder and the report
    reads its published generation (spark_connection). Raises ReportError when the warehouse cannot be drawn."""
    charts, facts = build_charts(warehouse) if engine == "duckdb" else build_spark_charts(warehouse)
    page = render_page(charts, facts)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def build_charts(warehouse: Path) -> tuple[list[Chart], dict[str, str]]:
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise ReportError(f"no warehouse at {warehouse} (run `journey run` first, or pass --warehouse)")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(f"cannot open {warehouse} read-only: {exc}") from exc
    try:
        return charts_of(con, warehouse)
    finally:
        con.close()


def build_spark_charts(folder: Path) -> tuple[list[Chart], dict[str, str]]:
    con = spark_connection(Path(folder))
    try:
        return charts_of(con, Path(folder))
    finally:
        con.close()


def spark_connection(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose `marts.<table>` are views over the Parquet files of a Spark warehouse folder's
    published generation (`tables/marts__g7.db/<table>/`) and whose `ops.loaded_files` is its books' (read-only):
    the report's SQL runs unchanged, and no Spark session is started. A local warehouse folder only: on a cluster,
    the tables live in its object store."""
    from orchestration.lib.spark_session import BOOKS, generations

    published = generations(folder)["published"] if folder.exists() else None
    tables = folder / "tables" / f"marts__g{published}.db"
    if published is None or not tables.is_dir() or not (folder / BOOKS).exists():
        raise ReportError(f"no published generation in {folder} (run `journey run --engine spark` first, or pass "
                          "--warehouse)")
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{folder / BOOKS}' as books (read_only)")
    con.execute("create schema marts")
    con.execute("create schema ops")
    con.execute("create view ops.loaded_files as select * from books.ops.loaded_files")
    for table in sorted(tables.iterdir()):
        if table.is_dir() and any(table.glob("*.parquet")):
            con.execute(f"create view marts.\"{table.name}\" as select * from read_parquet('{table}/*.parquet')")
    return con


def charts_of(con: duckdb.DuckDBPyConnection, warehouse: Path) -> tuple[list[Chart], dict[str, str]]:
    """Every chart, and the facts of the page's head, from a connection whose `marts` and `ops` are a warehouse's."""
    present = {f"{s}.{t}" for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    missing = [t for t in REQUIRED_TABLES if t not in present]
    if missing:
        raise ReportError(f"{warehouse} lacks {', '.join(missing)}: not a built journey warehouse "
                          "(run `journey run` first)")
    charts = [funnel_chart(con), sankey_chart(con), attribution_chart(con), retention_chart(con),
              stages_chart(con), lifecycle_chart(con), revenue_chart(con), prediction_chart(con, present),
              quality_chart(con)]
    return charts, _facts(con, warehouse)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def _facts(con: duckdb.DuckDBPyConnection, warehouse: Path) -> dict[str, str]:
    customers = _rows(con, "select count(*) from marts.dim_customers")[0][0]
    touchpoints, first, last = _rows(con, "select count(*), min(occurred_at), max(occurred_at) from marts.fct_touchpoints")[0]
    exports = _rows(con, "select min(export_date), max(export_date) from ops.loaded_files")[0]
    return {
        "warehouse": str(warehouse.resolve()),
        "drawn at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "customers": f"{customers:,}",
        "touchpoints": f"{touchpoints:,}" + (f" ({first:%Y-%m-%d} to {last:%Y-%m-%d})" if first else ""),
        "export dates": f"{exports[0]} to {exports[1]}" if exports[0] else "none",
    }


def _figure(**layout):

    fig = go.Figure()
    fig.update_layout(**{"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 40, "b": 50}, "height": 460,
                         **layout})
    return fig


def _no_data(fig, text: str = "no rows in the warehouse yet"):
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16})
    return fig


def funnel_chart(con) -> Chart:

    rows = _rows(con, """
        select funnel_name, step_order, step_name, sum(reached_count), sum(dropped_off_count)
        from marts.fct_funnels group by all order by funnel_name, step_order""")
    funnels = sorted({r[0] for r in rows})
    note = ("Visitors reaching each step of every funnel (seed journey_funnel_steps), all entry cohorts and channels; "
            "the label shows how many reached it, their share of the previous step and (-n) how many dropped off there "
            "(marts.fct_funnels).")
    if not funnels:
        return Chart("funnel", "Funnels: reached and dropped off per step", note, _no_data(_figure()), empty=True)
    fig = make_subplots(rows=1, cols=len(funnels), subplot_titles=[f"funnel: {f}" for f in funnels],
                        horizontal_spacing=0.18)
    for i, name in enumerate(funnels, start=1):
        steps = [r for r in rows if r[0] == name]
        reached = [int(r[3]) for r in steps]
        dropped = [int(r[4]) for r in steps]
        text = [f"{n:,}" + (f" ({n / reached[j - 1]:.0%}, -{d:,})" if j and reached[j - 1] else "")
                for j, (n, d) in enumerate(zip(reached, dropped, strict=True))]
        fig.add_trace(go.Funnel(y=[r[2] for r in steps], x=reached, text=text, textinfo="text", name=name,
                                customdata=dropped, showlegend=False,
                                hovertemplate="%{y}: %{x:,} reached, %{customdata:,} dropped off<extra></extra>"),
                      row=1, col=i)
    fig.update_layout(template="plotly_white", height=460, margin={"l": 120, "r": 30, "t": 60, "b": 30})
    return Chart("funnel", "Funnels: reached and dropped off per step", note, fig)


def sankey_chart(con) -> Chart:

    rows = _rows(con, f"""
        select step_number, from_channel, to_channel, sum(transitions_count), sum(converting_transitions_count)
        from marts.fct_channel_transitions where step_number < {SANKEY_STEPS}
        group by all having sum(transitions_count) > 0 order by 1, 2, 3""")
    note = (f"How paths move from channel to channel over their first {SANKEY_STEPS} touches: a node is a channel at "
            "a position of the path, '(conversion)' and '(no conversion)' are where paths end "
            "(marts.fct_channel_transitions).")
    title = "Channel transitions along the paths"
    if not rows:
        return Chart("sankey", title, note, _no_data(_figure()), empty=True)
    terminal = {"(conversion)", "(no conversion)"}
    nodes: dict[tuple, int] = {}

    def node(channel: str, position: int) -> int:
        key = (channel, None if channel in terminal or channel == "(start)" else position)
        return nodes.setdefault(key, len(nodes))

    sources, targets, values, converting = [], [], [], []
    for step, src, dst, count, conv in rows:
        sources.append(node(src, step))
        targets.append(node(dst, step + 1))
        values.append(int(count))
        converting.append(int(conv))
    labels = [ch if pos is None else f"{ch} #{pos}" for ch, pos in nodes]
    fig = _figure(height=620)
    fig.add_trace(go.Sankey(
        arrangement="snap",
        node={"label": labels, "pad": 12, "thickness": 14},
        link={"source": sources, "target": targets, "value": values, "customdata": converting,
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} paths, "
                               "%{customdata:,} of them converting<extra></extra>"},
    ))
    return Chart("sankey", title, note, fig)


def attribution_chart(con) -> Chart:

    rows = _rows(con, """
        select model, channel, sum(attributed_conversions), sum(attributed_revenue_amount)
        from marts.fct_attribution_daily group by all order by model, channel""")
    markov = _rows(con, """
        select channel, attributed_conversions, attributed_revenue from marts.fct_markov_channel_attribution
        order by channel""")
    note = ("Conversions and revenue credited to each channel by every attribution model (marts.fct_attribution_daily), "
            "beside the standard Markov model's channel totals (marts.fct_markov_channel_attribution), which share all "
            "conversions by the channels' removal effects.")
    title = "Attribution by model and channel"
    if not rows and not markov:
        return Chart("attribution", title, note, _no_data(_figure()), empty=True)
    series = {}
    for model, channel, conversions, revenue in rows:
        series.setdefault(model, {})[channel] = (float(conversions or 0), float(revenue or 0))
    if markov:
        series["markov (standard model)"] = {c: (float(v or 0), float(r or 0)) for c, v, r in markov}
    channels = sorted({c for values in series.values() for c in values})
    fig = make_subplots(rows=1, cols=2, subplot_titles=["attributed conversions", "attributed revenue"])
    for model, values in series.items():
        for col, index in ((1, 0), (2, 1)):
            fig.add_trace(go.Bar(x=channels, y=[values.get(c, (0.0, 0.0))[index] for c in channels], name=model,
                                 legendgroup=model, showlegend=col == 1,
                                 hovertemplate=f"{model}<br>%{{x}}: %{{y:,.1f}}<extra></extra>"), row=1, col=col)
    fig.update_layout(template="plotly_white", barmode="group", height=480,
                      margin={"l": 60, "r": 30, "t": 60, "b": 90}, legend={"orientation": "h", "y": -0.3})
    return Chart("attribution", title, note, fig)


def retention_chart(con) -> Chart:

    rows = _rows(con, """
        select cohort_week, period_number, cohort_customers_count, active_retention_rate, purchase_retention_rate
        from marts.fct_retention_cohorts order by cohort_week, period_number""")
    note = ("Weekly first-purchase cohorts: the share of each cohort active (own actions) and purchasing in each "
            "week since its first purchase (marts.fct_retention_cohorts).")
    title = "Retention cohorts"
    if not rows:
        return Chart("retention", title, note, _no_data(_figure()), empty=True)
    cohorts = sorted({r[0] for r in rows})
    periods = sorted({r[1] for r in rows})
    sizes = {r[0]: r[2] for r in rows}
    labels = [f"{c:%Y-%m-%d} ({sizes[c]:,})" for c in cohorts]

    def grid(index: int) -> list[list[float | None]]:
        cells = {(r[0], r[1]): r[index] for r in rows}
        return [[cells.get((c, p)) for p in periods] for c in cohorts]

    fig = make_subplots(rows=1, cols=2, subplot_titles=["active", "purchasing"], shared_yaxes=True,
                        horizontal_spacing=0.06)
    for col, index in ((1, 3), (2, 4)):
        fig.add_trace(go.Heatmap(z=grid(index), x=periods, y=labels, zmin=0, zmax=1, colorscale="Blues",
                                 showscale=col == 2, colorbar={"tickformat": ".0%"},
                                 hovertemplate="cohort %{y}, week %{x}: %{z:.1%}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title_text="weeks since first purchase", dtick=1)
    fig.update_layout(template="plotly_white", height=max(360, 28 * len(cohorts) + 120),
                      margin={"l": 150, "r": 30, "t": 60, "b": 50})
    return Chart("retention", title, note, fig)


STAGES = ("awareness", "consideration", "first_purchase", "repeat_purchase", "retention", "advocacy")
STAGE_GAPS = (("awareness → consideration", "days_awareness_to_consideration"),
              ("consideration → first purchase", "days_consideration_to_first_purchase"),
              ("first touch → first purchase", "days_first_touch_to_first_purchase"),
              ("first → repeat purchase", "days_first_to_repeat_purchase"),
              ("first purchase → advocacy", "days_first_purchase_to_advocacy"))


def _box_statistics(con, table: str, column: str) -> tuple | None:
    """(q1, median, q3, lower fence, upper fence, mean, n) of a column, worked out in DuckDB: the page carries five
    numbers per box, not every customer's value (at 500k customers that was 20 MB of page and seconds of drawing).
    Quartiles interpolate linearly (plotly's default); the whiskers reach the furthest values within WHISKER_IQR times
    the interquartile range of the box (Tukey's). None when the column has no value."""
    row = _rows(con, f"""
        with v as (select {column}::double as x from {table} where {column} is not null),
        q as (select quantile_cont(x, 0.25) as q1, quantile_cont(x, 0.5) as q2, quantile_cont(x, 0.75) as q3,
                     avg(x) as mean, count(*) as n from v)
        select q1, q2, q3,
               (select min(x) from v where x >= q1 - {WHISKER_IQR} * (q3 - q1)),
               (select max(x) from v where x <= q3 + {WHISKER_IQR} * (q3 - q1)), mean, n
        from q""")[0]
    return row if row[-1] else None


def stages_chart(con) -> Chart:

    counts = _rows(con, "select " + ", ".join(f"count({s}_at)" for s in STAGES)
                   + " from marts.fct_customer_journeys")[0]
    boxes = {label: _box_statistics(con, "marts.fct_customer_journeys", column) for label, column in STAGE_GAPS}
    note = ("Customers who reached each journey stage, and the days between stages per customer (signed: journeys are "
            "not linear; boxes show the quartiles, whiskers reach the furthest customers within 1.5 times the box's "
            "height) (marts.fct_customer_journeys).")
    title = "Journey stages and the time between them"
    if not any(counts):
        return Chart("stages", title, note, _no_data(_figure()), empty=True)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["customers who reached the stage", "days between stages"],
                        column_widths=[0.4, 0.6])
    fig.add_trace(go.Bar(x=list(STAGES), y=list(counts), showlegend=False, text=[f"{c:,}" for c in counts],
                         hovertemplate="%{x}: %{y:,} customers<extra></extra>"), row=1, col=1)
    for label, stats in boxes.items():
        if stats is None:
            continue
        q1, median, q3, lower, upper, mean, n = stats
        fig.add_trace(go.Box(x=[label], q1=[q1], median=[median], q3=[q3], lowerfence=[lower], upperfence=[upper],
                             mean=[mean], name=label, showlegend=False, hovertext=[f"{n:,} customers"]),
                      row=1, col=2)
    fig.update_layout(template="plotly_white", height=480, margin={"l": 60, "r": 30, "t": 60, "b": 110})
    return Chart("stages", title, note, fig)


LIFECYCLE = ("new", "returning", "resurrecting", "dormant")


def lifecycle_chart(con) -> Chart:

    rows = _rows(con, """
        select week_start, lifecycle_status, count(*) from marts.fct_customer_lifecycle_weeks
        group by all order by 1, 2""")
    note = ("Customers per week by lifecycle status: new (first active week), returning, resurrecting (active after "
            "an inactive week) and dormant (marts.fct_customer_lifecycle_weeks).")
    title = "Lifecycle weeks"
    fig = _figure(barmode="stack", xaxis_title="week", yaxis_title="customers")
    if not rows:
        return Chart("lifecycle", title, note, _no_data(fig), empty=True)
    weeks = sorted({r[0] for r in rows})
    statuses = [s for s in LIFECYCLE if any(r[1] == s for r in rows)] + sorted(
        {r[1] for r in rows} - set(LIFECYCLE))
    cells = {(r[0], r[1]): r[2] for r in rows}
    for status in statuses:
        fig.add_trace(go.Bar(x=weeks, y=[cells.get((w, status), 0) for w in weeks], name=status))
    return Chart("lifecycle", title, note, fig)


def revenue_chart(con) -> Chart:

    rows = _rows(con, """
        select date_trunc('week', occurred_at)::date as week, source_name, sum(reporting_revenue_amount)::double,
               count(*)
        from marts.fct_touchpoints
        where is_conversion and source_name in ('orders', 'pos_transactions')
        group by all order by 1, 2""")
    note = ("Weekly revenue of conversions in the reporting currency: orders (online: web and app) and till sales in "
            "the stores (marts.fct_touchpoints, conversions only).")
    title = "Revenue online and in store"
    fig = _figure(xaxis_title="week", yaxis_title="revenue (reporting currency)")
    if not rows:
        return Chart("revenue", title, note, _no_data(fig), empty=True)
    for source, label in ONLINE_SOURCES.items():
        points = [r for r in rows if r[1] == source]
        fig.add_trace(go.Scatter(x=[r[0] for r in points], y=[r[2] or 0 for r in points], name=label,
                                 mode="lines+markers", customdata=[r[3] for r in points],
                                 hovertemplate="week of %{x}: %{y:,.2f} (%{customdata:,} conversions)<extra></extra>"))
    return Chart("revenue", title, note, fig)


VALUE_TIERS = ("high", "medium", "low")
PREDICTION_TABLES = ("marts.customer_predictions", "marts.prediction_backtest")


def prediction_chart(con, present: set[str]) -> Chart:
    """Predicted revenue over the next 365 days per buyer (histogram), and the backtest: predicted against actual
    holdout purchases per calibration frequency (docs/prediction.md)."""
    note = ("Left: buyers by expected revenue over the next 365 days (BG/NBD x Gamma-Gamma, "
            "marts.customer_predictions). Right: the models fitted on a calibration period, their predicted holdout "
            "purchases against the actual ones, per number of repeat purchases in the calibration period "
            "(marts.prediction_backtest).")
    title = "Predicted customer value and its backtest"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("expected revenue, next 365 days",
                                                        "backtest: holdout purchases"))
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 30, "t": 60, "b": 50}, height=460,
                      barmode="group")
    if not set(PREDICTION_TABLES) <= present:
        return Chart("prediction", title, note, _no_data(fig, "no predictions in this warehouse yet (journey run "
                                                              "writes them)"), empty=True)
    # 40 bins of equal width between the smallest and the largest value, counted in DuckDB (the page carries 40
    # counts, not every buyer's value); the largest value falls in the last bin
    bins = _rows(con, f"""
        with v as (select expected_revenue_365d::double as x from marts.customer_predictions
                   where expected_revenue_365d is not null),
        r as (select min(x) as lo, max(x) as hi from v),
        w as (select lo, greatest(hi - lo, 0) / {HISTOGRAM_BINS} as width from r)
        select lo + (bin + 0.5) * width, width, count(*)
        from (select least(coalesce(floor((x - lo) / nullif(width, 0)), 0), {HISTOGRAM_BINS - 1})::integer as bin,
                     lo, width from v, w)
        group by bin, lo, width order by bin""")
    backtest = _rows(con, """
        select frequency_bucket, customers, predicted_purchases, actual_purchases from marts.prediction_backtest
        where frequency_bucket <> 'total' order by try_cast(rtrim(frequency_bucket, '+') as integer)""")
    if not bins:
        return Chart("prediction", title, note, _no_data(fig), empty=True)
    widths = [b[1] for b in bins] if bins[0][1] else None  # one value only: one bar of plotly's width
    fig.add_trace(go.Bar(x=[b[0] for b in bins], y=[b[2] for b in bins], width=widths, name="buyers",
                         hovertemplate="about %{x:,.0f}: %{y:,} buyers<extra></extra>"), row=1, col=1)
    if backtest:
        labels = [f"{r[0]} ({r[1]:,})" for r in backtest]
        fig.add_trace(go.Bar(x=labels, y=[r[2] for r in backtest], name="predicted",
                             hovertemplate="%{x}: %{y:,.1f} predicted<extra></extra>"), row=1, col=2)
        fig.add_trace(go.Bar(x=labels, y=[r[3] for r in backtest], name="actual",
                             hovertemplate="%{x}: %{y:,.0f} actual<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="expected revenue (reporting currency)", row=1, col=1)
    fig.update_yaxes(title_text="buyers", row=1, col=1)
    fig.update_xaxes(title_text="repeat purchases in calibration (customers)", row=1, col=2)
    fig.update_yaxes(title_text="purchases in the holdout", row=1, col=2)
    return Chart("prediction", title, note, fig)


def quality_chart(con) -> Chart:

    rows = _rows(con, """
        select export_date, source, sum(rows_loaded), sum(rows_quarantined),
               count(*) filter (where status = 'duplicate')
        from ops.loaded_files group by all order by 1, 2""")
    note = ("Rows loaded and quarantined per source and export date, from the books of the ingestion "
            "(ops.loaded_files; a file delivered again is counted as a duplicate, its rows not again). Why rows were "
            "quarantined: quarantine.<source>._rule and the quality reports beside this file.")
    title = "Data quality: rows loaded and quarantined"
    if not rows:
        return Chart("quality", title, note, _no_data(_figure()), empty=True)
    sources = sorted({r[1] for r in rows})
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=["rows loaded", "rows quarantined"])
    for source in sources:
        points = [r for r in rows if r[1] == source]
        dates = [r[0] for r in points]
        fig.add_trace(go.Bar(x=dates, y=[int(r[2] or 0) for r in points], name=source, legendgroup=source,
                             customdata=[int(r[4]) for r in points],
                             hovertemplate=f"{source} %{{x}}: %{{y:,}} rows loaded "
                                           f"(%{{customdata}} duplicate files)<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Bar(x=dates, y=[int(r[3] or 0) for r in points], name=source, legendgroup=source,
                             showlegend=False,
                             hovertemplate=f"{source} %{{x}}: %{{y:,}} rows quarantined<extra></extra>"), row=2, col=1)
    fig.update_layout(template="plotly_white", barmode="stack", height=620,
                      margin={"l": 60, "r": 30, "t": 60, "b": 40})
    return Chart("quality", title, note, fig)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customer journey report</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 16px 24px; color: #222; }}
h1 {{ margin-bottom: 4px; }}
dl.facts {{ display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 14px; }}
dl.facts dt {{ color: #666; }} dl.facts dd {{ margin: 0; }}
nav a {{ margin-right: 12px; font-size: 14px; }}
section {{ margin-top: 28px; border-top: 1px solid #ddd; }}
p.note {{ color: #555; font-size: 14px; max-width: 980px; }}
</style>
<script>{plotly_js}</script>
</head>
<body>
<h1>Customer journey report</h1>
<dl class="facts">{facts}</dl>
<nav>{nav}</nav>
{sections}
</body>
</html>
"""


def render_page(charts: list[Chart], facts: dict[str, str]) -> str:
    sections = []
    for chart in charts:
        div = chart.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{chart.key}",
                                   config={"displaylogo": False, "responsive": True})
        sections.append(f'<section id="{chart.key}" class="chart{" empty" if chart.empty else ""}">'
                        f"<h2>{html.escape(chart.title)}</h2><p class=\"note\">{html.escape(chart.note)}</p>"
                        f"{div}</section>")
    return PAGE.format(
        plotly_js=get_plotlyjs(),
        facts="".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items()),
        nav="".join(f'<a href="#{c.key}">{html.escape(c.title)}</a>' for c in charts),
        sections="\n".join(sections),
    )
