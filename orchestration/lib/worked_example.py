"""One customer's journey, side by side: raw records, touchpoints, sessions, paths and attribution credits.

`worked_example(warehouse, customer_id)` returns Markdown; `journey explain-customer` prints it and
docs/journeys.md shows one. It only reads the warehouse (opened read-only), so it can run against the published
file while readers are connected.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from rules.contract import SOURCES
from rules.journeys import ATTRIBUTION_MODELS

MAX_ROWS_PER_TABLE = 40

# The raw columns worth showing per source (all lineage lives in _source_file / _row_number).
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "web_events": ("event_id", "occurred_at", "anonymous_id", "user_id", "event_type", "utm_source", "utm_medium",
                   "referrer_url"),
    "app_events": ("event_id", "occurred_at", "device_id", "user_id", "event_type", "campaign"),
    "orders": ("order_id", "order_updated_at", "placed_at", "user_id", "email", "status", "total_amount", "currency",
               "sales_channel"),
    "pos_transactions": ("transaction_id", "occurred_at", "store_id", "loyalty_id", "phone", "total_amount",
                         "currency"),
    "email_events": ("event_id", "occurred_at", "email", "campaign_id", "event_type"),
    "crm_contacts": ("contact_id", "updated_at", "first_name", "last_name", "email", "phone", "loyalty_id",
                     "marketing_consent", "personalization_consent"),
    "support_tickets": ("ticket_id", "opened_at", "email", "phone", "contact_channel", "category",
                        "satisfaction_score"),
    "reviews": ("review_id", "posted_at", "email", "user_id", "platform", "rating"),
}

# The default customer: converted after a path of two or more channels, seen in as many sources as possible.
PICK_CUSTOMER_SQL = """
    select paths.customer_id
    from marts.fct_conversion_paths as paths
    inner join (
        select customer_id, count(distinct source_name) as sources_count, count(*) as touchpoints_count
        from marts.fct_touchpoints
        where customer_id is not null
        group by customer_id
    ) as activity on activity.customer_id = paths.customer_id
    where paths.is_converted and paths.distinct_channels_count >= 2 and paths.customer_id is not null
    group by paths.customer_id, activity.sources_count, activity.touchpoints_count
    order by activity.sources_count desc, count(*) desc, activity.touchpoints_count, paths.customer_id
    limit 1
"""


class WorkedExampleError(Exception):
    """The warehouse cannot produce the example (missing tables, unknown customer)."""


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, list | tuple):
        return " > ".join(_format(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[tuple], limit: int = MAX_ROWS_PER_TABLE) -> str:
    """A GitHub Markdown table; rows beyond `limit` are summarised in one line."""
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_... {len(rows) - limit} more rows_")
    return "\n".join(lines) + "\n"


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
    result = con.execute(sql, params or [])
    return [d[0] for d in result.description], result.fetchall()


def _require_tables(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    needed = {"fct_touchpoints", "fct_sessions", "fct_conversion_paths", "fct_attribution", "dim_customers"}
    found = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    missing = sorted(needed - found)
    if missing:
        raise WorkedExampleError(
            f"{warehouse}: marts.{', marts.'.join(missing)} not found - build the warehouse first (`journey run`)."
        )


def _pick_customer(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(PICK_CUSTOMER_SQL).fetchone()
    if row is None:
        row = con.execute(
            "select customer_id from marts.fct_touchpoints where customer_id is not null "
            "group by customer_id order by count(*) desc, customer_id limit 1"
        ).fetchone()
    if row is None:
        raise WorkedExampleError("the warehouse has no customer with touchpoints yet.")
    return row[0]


def _raw_section(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[str]:
    out = []
    for source_name, columns in RAW_COLUMNS.items():
        key = SOURCES[source_name].key
        select = ", ".join(f'raw."{c}"' for c in columns)
        cols, rows = _query(
            con,
            f"""
            select {select}, raw._source_file, raw._row_number
            from raw.{source_name} as raw
            inner join marts.fct_touchpoints as tp
                on tp.source_name = ? and tp.record_id = trim(raw."{key}") and tp.customer_id = ?
            order by tp.occurred_at, tp.touchpoint_id, raw._source_file, raw._row_number
            """,
            [source_name, customer_id],
        )
        if rows:
            out.append(f"**{source_name}** ({len(rows)} raw rows)\n")
            out.append(markdown_table(cols, rows))
    return out or ["_no raw records_\n"]


def worked_example(warehouse: Path, customer_id: str | None = None) -> str:
    """Markdown: one customer's raw records, touchpoints, sessions, paths and attribution credits side by side."""
    if not Path(warehouse).exists():
        raise WorkedExampleError(f"{warehouse}: no such warehouse file - run `journey run` first.")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        _require_tables(con, Path(warehouse))
        customer_id = customer_id or _pick_customer(con)
        if con.execute("select 1 from marts.dim_customers where customer_id = ?", [customer_id]).fetchone() is None:
            raise WorkedExampleError(f"customer {customer_id!r} is not in marts.dim_customers.")
        return "\n".join(_sections(con, customer_id))
    finally:
        con.close()


def _sections(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[str]:
    out = [f"## Customer `{customer_id}`\n"]

    cols, rows = _query(
        con,
        """
        select customer_id, orders_count, lifetime_revenue_amount, first_purchase_at, last_purchase_at,
            sessions_count, preferred_channel, current_stage, rfm_segment, personalization_consent, visitor_segment
        from marts.customer_360 where customer_id = ?
        """
        if _has_table(con, "customer_360")
        else "select customer_id, first_seen_at, last_seen_at from marts.dim_customers where customer_id = ?",
        [customer_id],
    )
    out += ["### Customer 360\n", markdown_table(cols, rows)]

    if _has_table(con, "fct_customer_journeys"):
        cols, rows = _query(
            con,
            """
            select awareness_at, consideration_at, first_purchase_at, repeat_purchase_at, advocacy_at,
                highest_stage, current_stage, stage_regressions_count
            from marts.fct_customer_journeys where customer_id = ?
            """,
            [customer_id],
        )
        out += ["### Journey stages\n", markdown_table(cols, rows)]

    out += ["### 1. Raw records (as delivered, with their file and row)\n", *_raw_section(con, customer_id)]

    cols, rows = _query(
        con,
        """
        select occurred_at, touchpoint_id, touchpoint_type, channel, channel_group, journey_stage,
            case when is_conversion then 'conversion ' || conversion_number end as conversion,
            session_id, campaign, device, revenue_amount, currency
        from marts.fct_touchpoints where customer_id = ?
        order by occurred_at, touchpoint_id
        """,
        [customer_id],
    )
    out += ["### 2. Touchpoints (marts.fct_touchpoints)\n", markdown_table(cols, rows)]

    cols, rows = _query(
        con,
        """
        select session_id, started_at, ended_at, duration_seconds, events_count, channel, campaign, landing_page,
            device, is_converted, conversion_id
        from marts.fct_sessions where customer_id = ?
        order by started_at, session_id
        """,
        [customer_id],
    )
    out += ["### 3. Sessions (marts.fct_sessions)\n", markdown_table(cols, rows)]

    cols, rows = _query(
        con,
        """
        select path_id, is_converted, conversion_at, path_channels, path_channels_collapsed, path_length,
            days_to_convert, conversion_value
        from marts.fct_conversion_paths where customer_id = ?
        order by coalesce(conversion_at, path_ended_at), path_id
        """,
        [customer_id],
    )
    out += ["### 4. Paths (marts.fct_conversion_paths)\n", markdown_table(cols, rows)]

    out.append("### 5. Attribution credits per conversion (marts.fct_attribution)\n")
    conversions = con.execute(
        """
        select distinct conversion_id, conversion_at, conversion_value from marts.fct_attribution
        where customer_id = ? order by conversion_at, conversion_id
        """,
        [customer_id],
    ).fetchall()
    if not conversions:
        out.append("_no conversions_\n")
    for conversion_id, conversion_at, value in conversions:
        pivot = ", ".join(
            f"sum(case when model = '{m}' then credit end) as {m}" for m in ATTRIBUTION_MODELS
        )
        cols, rows = _query(
            con,
            f"""
            select channel, max(touches_count) as touches, {pivot}
            from marts.fct_attribution where conversion_id = ?
            group by channel order by channel
            """,
            [conversion_id],
        )
        out.append(f"**{conversion_id}** at {_format(conversion_at)}, value {_format(value)}\n")
        out.append(markdown_table(cols, rows))
    return out


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return (
        con.execute(
            "select 1 from information_schema.tables where table_schema = 'marts' and table_name = ?", [name]
        ).fetchone()
        is not None
    )
