"""Incremental journey models: nights that each load part of the export dates end in exactly the tables one full
build of the same exports gives (docs/journeys.md, "Incremental builds").

One generated landing folder is built twice: night by night (three runs over consecutive export-date ranges, each
an incremental build of the journey models) and in one run into a fresh warehouse (the first build is a full
build). Before the second night, exports are added that exercise what incremental builds must get right:
late-arriving records (a web event in the gap between two sessions of a visitor, an order before a buyer's first
conversion), a review that carries the e-mail of one customer and the user id of another, so identity
resolution merges them and their records move to one customer; before the third night, a new version of that late
order cancels it (a conversion an earlier build knew disappears).

Every fact table (and customer_360) is then compared row by row in both directions (EXCEPT ALL), ignoring only
columns that say when something ran (load times, id-assignment times; the compared marts hold none today).

Identity is compared with the same nights built with `--full-refresh` each night (everything recomputed from all
history; customer ids and the merge log are state, never rebuilt): the same customer ids for every identifier, the
same golden records, consent and activity (dim_customers), the same identifiers and the same merge log entries.
"""

import csv
import dataclasses
import os
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from generator import generate
from orchestration.defs.resources import build_path_for, scoped_environment
from orchestration.lib import publish
from orchestration.lib.publish import bi_path, last_publication, write_bi_file
from orchestration.lib.warehouse import (
    STORAGE_VERSION_ENV,
    fresh_build_marker,
    storage_version,
    take_fresh_build_marker,
)
from orchestration.runner import execute, format_summary
from rules.contract import SOURCES
from tests.helpers import BuiltWarehouse, built_once, copy_key, copy_warehouse, query

pytestmark = pytest.mark.slow

START = date(2026, 9, 1)
PEOPLE, DAYS, SEED = 300, 12, 3
# Export dates run from START + 1 to START + DAYS (late rows a few days more); three nights cover them all.
NIGHTS = [(START + timedelta(days=1), START + timedelta(days=5)),
          (START + timedelta(days=6), START + timedelta(days=8)),
          (START + timedelta(days=9), START + timedelta(days=DAYS + 7))]
INJECT_DATE = NIGHTS[1][0] + timedelta(days=1)  # the folder the hand-made records arrive in (second night)
CANCEL_DATE = NIGHTS[2][0]  # the folder of the late order's cancellation (third night)
# Columns whose values say when something ran rather than what the data is.
RUN_DEPENDENT = {"_loaded_at", "_load_id", "customer_created_at", "first_assigned_at", "changed_at", "run_at",
                 "_changed_at"}
# Identity state compared between incremental nights and nights rebuilt in full: (schema, table).
IDENTITY_TABLES = [("marts", "dim_customers"), ("marts", "customer_identifiers"), ("marts", "customer_merges"),
                   ("intermediate", "int_identity__customer_id_map"), ("intermediate", "int_identity__identifier_guards"),
                   ("intermediate", "int_identity__golden_attributes"), ("intermediate", "int_identity__record_customers"),
                   ("intermediate", "int_identity__edges"), ("intermediate", "int_identity__graph_components"),
                   ("intermediate", "int_identity__components"), ("intermediate", "int_identity__attribute_observations")]
LATE_ORDER = {"order_id": "O-INC-LATE", "status": "placed", "total_amount": "42.00", "currency": "USD",
              "sales_channel": "web"}


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_export(landing: Path, source: str, export_date: date, rows: list[dict]) -> None:
    """An extra export file (CSV, every contract column, empty where not given) in an export-date folder."""
    columns = SOURCES[source].columns
    folder = landing / source / export_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{source}_{export_date.isoformat()}_late.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)


def choose_changes(warehouse: Path) -> dict:
    """The second night's hand-made records, chosen from what the first night published."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
        # Customers are taken in the order of the md5 of their oldest identifier (what their ids were before keyed
        # ids), not of their ids: keyed ids depend on the warehouse's random key, and the scenario must not.
        con.execute("""
            create temp table customer_order as
            select map.customer_id, md5(arg_min(map.node_id, cast(components.first_seen_at as varchar) || '|' || map.node_id))
                as sort_key
            from intermediate.int_identity__customer_id_map as map
            inner join intermediate.int_identity__components as components on components.node_id = map.node_id
            where map.is_active
            group by map.customer_id
        """)
        # 1. A review linking two buyers: one known by an e-mail, the other by a user id -> they merge.
        email, user_id = one("""
            with buyers as (
                select distinct customer_id from marts.fct_touchpoints where is_conversion and customer_id is not null
            )
            select a.identifier_value, b.identifier_value
            from marts.customer_identifiers as a
            inner join buyers as buyer_a on buyer_a.customer_id = a.customer_id
            inner join marts.customer_identifiers as b on b.identifier_type = 'user_id' and b.customer_id <> a.customer_id
            inner join buyers as buyer_b on buyer_b.customer_id = b.customer_id
            inner join customer_order as order_a on order_a.customer_id = a.customer_id
            inner join customer_order as order_b on order_b.customer_id = b.customer_id
            where a.identifier_type = 'email'
            order by order_a.sort_key, order_b.sort_key
            limit 1
        """)
        # 2. A late web event in the gap between two sessions of one visitor (closing the gap when it is short).
        visitor, ended_at, next_started_at, first_event = one("""
            with web as (
                select visitor_key, session_id, started_at, ended_at,
                    lead(started_at) over (partition by visitor_key order by started_at, session_id) as next_started_at
                from marts.fct_sessions
                where entry_source_name = 'web_events'
            )
            select web.visitor_key, web.ended_at, web.next_started_at, replace(web.session_id, 'session:web_events:', '')
            from web
            where web.next_started_at is not null
            order by date_diff('second', web.ended_at, web.next_started_at), web.session_id
            limit 1
        """)
        cookie, web_user = one(f"select anonymous_id, user_id from staging.stg_web__events where event_id = '{first_event}'")
        late_event_at = min(ended_at + timedelta(minutes=25), next_started_at - timedelta(seconds=1))
        # 3. A late order an hour before a buyer's first conversion: every later conversion of theirs is renumbered.
        buyer_email, first_at = one("""
            select min(ids.identifier_value), min(touchpoints.occurred_at)
            from marts.fct_touchpoints as touchpoints
            inner join marts.customer_identifiers as ids
                on ids.customer_id = touchpoints.customer_id and ids.identifier_type = 'email'
            inner join customer_order on customer_order.customer_id = touchpoints.customer_id
            where touchpoints.is_conversion
            group by touchpoints.customer_id, customer_order.sort_key
            order by count(*) desc, customer_order.sort_key
            limit 1
        """)
    finally:
        con.close()

    late_event = {
        "event_id": "W-INC-LATE", "occurred_at": iso(late_event_at), "anonymous_id": cookie or "", "user_id": web_user or "",
        "event_type": "page_view", "page_url": "https://shop.example.com/", "device_type": "desktop",
    }
    return {"email": email, "user_id": user_id, "visitor": visitor, "buyer_email": buyer_email,
            "late_event": late_event, "first_conversion_at": first_at}


def write_injected(landing: Path, changes: dict) -> None:
    """Add the second night's hand-made records to the landing folder."""
    email, user_id, buyer_email = changes["email"], changes["user_id"], changes["buyer_email"]
    write_export(landing, "reviews", INJECT_DATE, [{
        "review_id": "R-INC-BRIDGE", "posted_at": iso(datetime.combine(START + timedelta(days=3), datetime.min.time())
                                                   + timedelta(hours=12)),
        "email": email, "user_id": user_id, "platform": "trustpilot", "rating": "5", "product_id": "SKU-1",
    }])
    write_export(landing, "web_events", INJECT_DATE, [changes["late_event"]])
    placed = changes["first_conversion_at"] - timedelta(hours=1)
    write_export(landing, "orders", INJECT_DATE, [LATE_ORDER | {
        "order_updated_at": iso(placed + timedelta(minutes=1)), "placed_at": iso(placed), "email": buyer_email,
    }])


def inject_cancellation(landing: Path, injected: dict) -> None:
    """The third night's new version of the late order: cancelled, so it is no conversion any more."""
    write_export(landing, "orders", CANCEL_DATE, [LATE_ORDER | {
        "order_updated_at": iso(datetime.combine(CANCEL_DATE, datetime.min.time()) - timedelta(hours=5)),
        "email": injected["buyer_email"], "status": "cancelled",
    }])


def differences(incremental: Path, full: Path, tables: list[tuple[str, str]] | None = None
                ) -> dict[str, tuple[int, int, list, list]]:
    """Per table (default: every fact table and customer_360): rows only in the incremental build, rows only in the
    full build (counts and examples), ignoring the columns that say when something ran."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{incremental}' as incremental (read_only)")
        con.execute(f"attach '{full}' as full_build (read_only)")
        if tables is None:
            tables = [("marts", r[0]) for r in con.execute(
                "select table_name from information_schema.tables where table_catalog = 'full_build' "
                "and table_schema = 'marts' and (table_name like 'fct\\_%' escape '\\' or table_name = 'customer_360') "
                "order by 1"
            ).fetchall()]
            assert {"fct_touchpoints", "fct_sessions", "fct_conversion_paths", "fct_attribution",
                    "fct_markov_channel_attribution"} <= {t for _, t in tables}
        out = {}
        for schema, table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'full_build' and schema_name = ? "
                "and table_name = ? order by column_index", [schema, table]
            ).fetchall() if r[0] not in RUN_DEPENDENT]
            assert columns, f"{schema}.{table} is missing from {full}"
            select = ", ".join(f'"{c}"' for c in columns)
            a, b = f"incremental.{schema}.{table}", f"full_build.{schema}.{table}"
            only_incremental = f"select {select} from {a} except all select {select} from {b}"
            only_full = f"select {select} from {b} except all select {select} from {a}"
            counts = [con.execute(f"select count(*) from ({q})").fetchone()[0] for q in (only_incremental, only_full)]
            if any(counts):
                out[f"{schema}.{table}"] = (*counts, con.execute(f"{only_incremental} limit 3").fetchall(),
                                            con.execute(f"{only_full} limit 3").fetchall())
        return out
    finally:
        con.close()


def report(diff: dict) -> str:
    return "\n".join(
        f"{table}: {a} rows only in the incremental build, {b} only in the full build\n"
        f"  incremental: {ex_a}\n  full:        {ex_b}"
        for table, (a, b, ex_a, ex_b) in diff.items()
    )


def rewritten_touchpoints(warehouse: Path) -> tuple:
    """(latest build number, touchpoints that build rewrote, all touchpoints) of the sessionized touchpoints."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select max(_build_number), count(*) filter (where _build_number = (select max(_build_number) "
            "from intermediate.int_journeys__touchpoints_sessionized)), count(*) "
            "from intermediate.int_journeys__touchpoints_sessionized"
        ).fetchone()
    finally:
        con.close()


def run_night(landing: Path, warehouse: Path, night: int, full_refresh: bool = False) -> None:
    first, last = NIGHTS[night]
    summary = execute(landing, warehouse, first, last, full_refresh=full_refresh)
    assert summary.exit_code == 0, format_summary(summary)


def landing_of_night(first_night, root: Path, night: int) -> Path:
    """A private copy of the generated landing folder with the hand-made exports the nights up to `night` bring."""
    landing = root / "landing"
    shutil.copytree(first_night.landing, landing)
    if night >= 1:
        write_injected(landing, first_night.summary["changes"])
    if night >= 2:
        inject_cancellation(landing, first_night.summary["changes"])
    return landing


# The builds are shared by the tests (across pytest-xdist workers too) and built once each: the first night, from
# which the hand-made exports are chosen, then three builds that each start from it or its landing folder.


@pytest.fixture(scope="session")
def first_night(tmp_path_factory) -> BuiltWarehouse:
    """The generated exports, the warehouse of the first night, and the hand-made records chosen from it (as
    `summary`: e-mail and user id to bridge, the visitor of the late web event, the buyer of the late order)."""
    def build(root: Path) -> BuiltWarehouse:
        generate(root / "gen", people=PEOPLE, days=DAYS, seed=SEED, start=START)
        landing, warehouse = root / "gen" / "landing", root / "warehouse" / "journey.duckdb"
        run_night(landing, warehouse, 0)
        return BuiltWarehouse(landing, warehouse, {"changes": choose_changes(warehouse),
                                                   "rewritten": rewritten_touchpoints(warehouse)})

    return built_once(tmp_path_factory, "incremental-first-night", build)


@pytest.fixture(scope="session")
def nightly(tmp_path_factory, first_night) -> BuiltWarehouse:
    """The second and third nights, incremental, on the first night's warehouse; `summary` says what each night
    rewrote and how the late order looked after the second night."""
    def build(root: Path) -> BuiltWarehouse:
        warehouse = copy_warehouse(first_night.warehouse, root / "warehouse" / "journey.duckdb")
        # as a version before int_identity__identifier_values.sources left it: the next night fills the column for
        # every value (customer_identifiers reads it), so the row-by-row comparison with a full build covers that
        with duckdb.connect(str(warehouse)) as con:
            con.execute("alter table intermediate.int_identity__identifier_values drop column sources")
            # and as a version that stored the Markov credits left int_journeys__attribution_credits: its Markov rows
            # with the removal effect each used. The next night drops both (else fct_attribution_daily, which sums
            # the stored credits and the view's, would count those conversions' Markov credits twice)
            credits = "intermediate.int_journeys__attribution_credits"
            con.execute(f"alter table {credits} add column channel_removal_effect double")
            con.execute(f"insert into {credits} by name select *, (select max(_build_number) from {credits}) "
                        "as _build_number from intermediate.int_journeys__markov_credits")
            assert con.execute(f"select count(*) from {credits} where model = 'markov'").fetchone()[0] > 0
        landing = landing_of_night(first_night, root, 1)
        rewritten = [first_night.summary["rewritten"]]
        run_night(landing, warehouse, 1)
        rewritten.append(rewritten_touchpoints(warehouse))
        [late_order] = query(warehouse, "select is_conversion, conversion_number from marts.fct_touchpoints "
                                        "where touchpoint_id = 'orders:O-INC-LATE'")
        inject_cancellation(landing, first_night.summary["changes"])
        # the keys the third night's models wrote, for their uniqueness tests, kept in a file instead of memory
        keys_built = root / "keys_built.duckdb"
        with scoped_environment(JOURNEY_KEYS_BUILT_FILE=str(keys_built)):
            run_night(landing, warehouse, 2)
        rewritten.append(rewritten_touchpoints(warehouse))
        return BuiltWarehouse(landing, warehouse, {"rewritten": rewritten, "late_order_after_second_night": late_order,
                                                   "keys_built": keys_built})

    return built_once(tmp_path_factory, "incremental-nightly", build)


@pytest.fixture(scope="session")
def refreshed(tmp_path_factory, first_night) -> BuiltWarehouse:
    """The same nights each rebuilt in full (`--full-refresh`: identity from all history; the id map and merge log
    carry over). The first night of a new warehouse is a full build either way, so they start from its warehouse."""
    def build(root: Path) -> BuiltWarehouse:
        warehouse = copy_warehouse(first_night.warehouse, root / "warehouse" / "journey.duckdb")
        landing = landing_of_night(first_night, root, 1)
        run_night(landing, warehouse, 1, full_refresh=True)
        inject_cancellation(landing, first_night.summary["changes"])
        run_night(landing, warehouse, 2, full_refresh=True)
        return BuiltWarehouse(landing, warehouse, None)

    return built_once(tmp_path_factory, "incremental-refreshed", build)


@pytest.fixture(scope="session")
def full(tmp_path_factory, first_night) -> BuiltWarehouse:
    """Every export of the three nights in one run into a new warehouse (a full build).

    It is written in the storage format older BI drivers read (DuckDB 1.4), the nightly one in the newest format:
    the row-by-row comparison also shows the format changes nothing."""
    def build(root: Path) -> BuiltWarehouse:
        landing = landing_of_night(first_night, root, 2)
        warehouse = root / "warehouse" / "journey.duckdb"
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        copy_key(first_night.warehouse, warehouse)  # the same privacy key: the same keyed customer ids
        os.environ[STORAGE_VERSION_ENV] = "v1.4.0"
        try:
            summary = execute(landing, warehouse)
        finally:
            del os.environ[STORAGE_VERSION_ENV]
        assert summary.exit_code == 0, format_summary(summary)
        return BuiltWarehouse(landing, warehouse, None)

    return built_once(tmp_path_factory, "incremental-full", build)


def test_nights_were_incremental_and_exercised_the_hard_cases(first_night, nightly):
    injected, rewritten = first_night.summary["changes"], nightly.summary["rewritten"]
    # Each night after the first rewrote only part of the touchpoints, in its own build.
    assert [r[0] for r in rewritten] == [1, 2, 3], rewritten
    assert all(0 < changed < total for _, changed, total in rewritten[1:]), rewritten
    # the Markov credits an older version stored are gone, with their column (the fixture put them there)
    credits = "intermediate.int_journeys__attribution_credits"
    assert query(nightly.warehouse, f"select count(*) from {credits} where model = 'markov'") == [(0,)]
    assert "channel_removal_effect" not in {c for (c,) in query(
        nightly.warehouse, f"select column_name from duckdb_columns() where schema_name = 'intermediate' "
                           f"and table_name = '{credits.split('.')[1]}'")}
    con = duckdb.connect(str(nightly.warehouse), read_only=True)
    try:
        merged = con.execute(
            "select count(distinct customer_id) from marts.customer_identifiers where identifier_value in (?, ?)",
            [injected["email"], injected["user_id"]],
        ).fetchone()[0]
        merges = con.execute("select count(*) from marts.customer_merges where change_type = 'merge'").fetchone()[0]
        cancelled = con.execute(
            "select is_conversion, touchpoint_type from marts.fct_touchpoints where touchpoint_id = 'orders:O-INC-LATE'"
        ).fetchone()
        late_event = con.execute(
            "select session_id from marts.fct_touchpoints where touchpoint_id = 'web_events:W-INC-LATE'"
        ).fetchone()
        moved = con.execute(
            "select count(*) from intermediate.int_journeys__touchpoints_sessionized where _previous_visitor_key is not null"
        ).fetchone()[0]
        # The last night's new records of known people left their components alone: values they carry, linked in the
        # graph, outside the graph scope (docs/identity.md, "Incremental builds").
        unwidened = con.execute("""
            select count(*) from intermediate.int_identity__changed_nodes as changed
            where changed.node_id in (select node_id from intermediate.int_identity__graph_components)
                and changed.node_id not in (select node_id from intermediate.int_identity__graph_scope)
        """).fetchone()[0]
    finally:
        con.close()
    assert merged == 1 and merges >= 1, "the bridging review did not merge the two customers"
    assert moved > 0, "no record moved to another visitor in an incremental build"
    assert unwidened > 0, "every value of the last night's changed records widened the graph scope"
    # the late order became the buyer's first conversion, then it was cancelled
    assert nightly.summary["late_order_after_second_night"] == (True, 1), nightly.summary
    assert cancelled == (False, "order_cancelled"), cancelled
    assert late_event is not None and late_event[0] is not None, late_event


def test_incremental_nights_equal_a_full_build_row_by_row(nightly, full):
    nightly, full = nightly.warehouse, full.warehouse
    assert storage_version(str(full)) == "v1.4.0+" and storage_version(str(nightly)) != "v1.4.0+"
    diff = differences(nightly, full)
    assert not diff, report(diff)


def bi_tables(bi: Path) -> list[tuple[str, str]]:
    return [("marts", r[0]) for r in query(bi, "select table_name from duckdb_tables() where schema_name = 'marts' "
                                               "order by 1")]


def test_bi_file_brought_up_to_date_equals_the_bi_file_written_whole(nightly, tmp_path):
    """The second night's publish updated the BI file the first wrote (the rows of the visitors the build rewrote)
    instead of writing it again; it ends with the rows a whole write of the same build gives."""
    bi = bi_path(nightly.warehouse)
    written = dict(query(bi, "select table_name, written from ops.bi_tables"))
    assert {"fct_touchpoints", "fct_sessions", "fct_conversion_paths", "fct_attribution", "fct_funnel_progress",
            "fct_customer_journeys"} <= {t for t, how in written.items() if how == "updated"}, written
    # the lifecycle weeks too, unless the as-of week moved on (then every customer has a new week)
    assert written["fct_customer_lifecycle_weeks"] in ("updated", "written (max(week_start) changed)"), written
    assert set(written) == {t for _, t in bi_tables(bi)}
    whole = write_bi_file(nightly.warehouse, tmp_path / "journey_bi.duckdb")
    assert not whole.updated and set(whole.tables.values()) == {"written"}, whole
    assert bi_tables(bi) == bi_tables(whole.path)
    diff = differences(bi, whole.path, bi_tables(bi) + [("ops", "publications")])
    assert not diff, report(diff)
    # The Markov credits moved with the night's removal effects also where the night rebuilt nothing (the linear row
    # of the conversion and channel is as before): fct_attribution's post-hook and the BI file's refresh updated them
    # in place (else the comparisons above and with a full build would fail on them).
    con = duckdb.connect(str(bi), read_only=True)
    try:
        con.execute(f"attach '{publish.previous_path(bi)}' as before (read_only)")
        [(moved,)] = con.execute(
            "select count(*) from marts.fct_attribution as now "
            "inner join before.marts.fct_attribution as was using (conversion_id, model, channel) "
            "inner join marts.fct_attribution as now_linear on now_linear.conversion_id = now.conversion_id "
            "    and now_linear.channel = now.channel and now_linear.model = 'linear' "
            "inner join before.marts.fct_attribution as was_linear on was_linear.conversion_id = now.conversion_id "
            "    and was_linear.channel = now.channel and was_linear.model = 'linear' "
            "where now.model = 'markov' and now.credit <> was.credit "
            "    and now_linear.credit = was_linear.credit and now_linear.touches_count = was_linear.touches_count"
        ).fetchall()
    finally:
        con.close()
    assert moved > 0


def test_bi_file_update_refuses_another_version_and_rewrites_a_table_that_does_not_add_up(nightly, tmp_path,
                                                                                          monkeypatch):
    """The BI file is updated only from the version the build started from, and while little of it is dead space;
    a table whose row count differs from the build's after the update (here: rows of a visitor the build did not
    touch, lost from the previous BI file) is written whole."""
    target = tmp_path / "journey_bi.duckdb"
    con = duckdb.connect(str(nightly.warehouse), read_only=True)
    try:
        shown = last_publication(con, "")  # the version the nightly BI file shows; the scope is its build's
        untouched = con.execute(
            "select session_id from marts.fct_sessions where visitor_key not in "
            "(select visitor_key from intermediate.int_journeys__rebuild_scope) order by session_id limit 2"
        ).fetchall()
    finally:
        con.close()
    assert shown is not None and len(untouched) == 2
    shutil.copyfile(bi_path(nightly.warehouse), target)
    refused = write_bi_file(nightly.warehouse, target, parent=dataclasses.replace(shown, publication_id="rolled-back"))
    assert not refused.updated and "another version" in refused.reason, refused

    shutil.copyfile(bi_path(nightly.warehouse), target)
    monkeypatch.setattr(publish, "BI_REWRITE_DEAD_SHARE", 0.0)  # the update left deleted rows behind
    dead = write_bi_file(nightly.warehouse, target, parent=shown)
    assert not dead.updated and "dead space" in dead.reason, dead

    monkeypatch.setattr(publish, "BI_REWRITE_DEAD_SHARE", 1.0)
    shutil.copyfile(bi_path(nightly.warehouse), target)
    holder = duckdb.connect(str(target))  # a reader that opened it for writing: its lock refuses us a read
    try:
        locked = write_bi_file(nightly.warehouse, target, parent=shown)
    finally:
        holder.close()
    assert not locked.updated and "could not be read" in locked.reason, locked

    shutil.copyfile(bi_path(nightly.warehouse), target)
    con = duckdb.connect(str(target))
    try:
        con.execute("delete from marts.fct_sessions where session_id in (?, ?)", [u[0] for u in untouched])
    finally:
        con.close()
    mended = write_bi_file(nightly.warehouse, target, parent=shown)
    assert mended.updated, mended
    assert mended.tables["fct_touchpoints"] == "updated", mended.tables
    assert mended.tables["fct_sessions"].startswith("written (") and "rows after the update" in \
        mended.tables["fct_sessions"], mended.tables
    whole = write_bi_file(nightly.warehouse, tmp_path / "whole.duckdb")
    diff = differences(target, whole.path, bi_tables(target))
    assert not diff, report(diff)


def test_incremental_staging_equals_a_full_build_row_by_row(nightly, full):
    """Staging re-stages only the keys with new deliveries; the nights end with the tables a full build stages
    (lineage included: a key's latest delivery wins either way)."""
    nightly, full = nightly.warehouse, full.warehouse
    con = duckdb.connect(str(full), read_only=True)
    try:
        staged = [("staging", r[0]) for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'staging' order by 1").fetchall()]
    finally:
        con.close()
    assert len(staged) == len(SOURCES), staged
    diff = differences(nightly, full, staged)
    assert not diff, report(diff)


def test_incremental_identity_equals_nights_rebuilt_in_full(nightly, refreshed):
    """Incremental identity (changed records, their fuzzy pairs and stitches, the graph scope around them) ends each
    night where a full recomputation does: same customer ids, golden records, guards and merge log."""
    diff = differences(nightly.warehouse, refreshed.warehouse, IDENTITY_TABLES)
    assert not diff, report(diff)
    con = duckdb.connect(str(nightly.warehouse), read_only=True)
    try:
        merges = con.execute("select count(*) from marts.customer_merges").fetchone()[0]
        customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
    finally:
        con.close()
    assert merges >= 1 and customers > 100, (merges, customers)


def test_full_refresh_rebuilds_the_journey_tables_and_keeps_customer_ids(nightly, full, scratch):
    """`journey run --full-refresh` after the nights: every journey row rewritten by one build, the same tables as
    the full build, and not one customer id changed (the id map and the merge log are never rebuilt)."""
    landing, nightly, full = nightly.landing, nightly.warehouse, full.warehouse
    refreshed = copy_warehouse(nightly, scratch)
    summary = execute(landing, refreshed, full_refresh=True)
    assert summary.exit_code == 0, format_summary(summary)
    ids = "select identifier_type, identifier_value, customer_id from marts.customer_identifiers"
    merges = "select count(*) from marts.customer_merges"
    con = duckdb.connect(str(refreshed), read_only=True)
    try:
        builds_seen = con.execute(
            "select min(_build_number), max(_build_number) from intermediate.int_journeys__touchpoints_sessionized"
        ).fetchone()
        ids_after, merges_after = set(con.execute(ids).fetchall()), con.execute(merges).fetchone()[0]
    finally:
        con.close()
    con = duckdb.connect(str(nightly), read_only=True)
    try:
        ids_before, merges_before = set(con.execute(ids).fetchall()), con.execute(merges).fetchone()[0]
    finally:
        con.close()
    assert builds_seen == (1, 1), f"a full refresh must rewrite every touchpoint in one build, saw {builds_seen}"
    assert ids_after == ids_before, "customer ids changed in a full refresh"
    assert merges_after == merges_before, "the merge log changed in a full refresh"
    assert not differences(refreshed, full), "a full refresh differs from a full build"


# Models whose uniqueness tests read, on an incremental build, only the keys the build wrote (macros/test_scope.sql),
# with the key columns they record.
KEYS_BUILT = {"stg_web__events", "stg_app__events", "stg_email__events", "int_identity__records",
              "int_identity__record_customers", "int_identity__fuzzy_matches", "int_identity__identifier_values",
              "int_identity__identifier_guards",
              "int_identity__components", "int_identity__graph_components", "int_journeys__touchpoints_sessionized",
              "int_journeys__path_touches", "int_journeys__paths", "int_journeys__attribution_credits",
              "fct_touchpoints", "fct_sessions", "fct_conversion_paths", "fct_attribution", "fct_funnel_progress",
              "fct_customer_lifecycle_weeks", "customer_identifiers"}


def compiled_tests(warehouse: Path) -> dict[str, str]:
    """The SQL of every data test the last dbt build of `warehouse` ran, by file name (dbt's target/run folder:
    generic tests under their models' .yml, singular tests under tests/)."""
    run = warehouse.with_name(warehouse.name + ".dbt") / "run"
    return {path.stem: path.read_text(encoding="utf-8") for path in run.rglob("*.sql")
            if ".yml" in str(path) or path.relative_to(run).parts[1] == "tests"}


def test_a_nights_uniqueness_tests_read_the_keys_it_wrote(nightly, full, refreshed):
    """On an incremental night each listed model records the keys of the rows it inserted (exactly those: the
    journey models' `_build_number` says which rows the night wrote), and its uniqueness tests read the rows that
    share a key with them; the tests of a full build and of a `--full-refresh` night read every row."""
    assert not Path(fresh_build_marker(build_path_for(nightly.warehouse))).exists(), "the dbt step took the marker"
    con = duckdb.connect(str(nightly.summary["keys_built"]), read_only=True)
    try:
        recorded = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert recorded == KEYS_BUILT
        markers = con.execute(" union all ".join(
            f"select '{t}', _all_rows, _built_at, (select count(*) from main.{t} where not _marker) "
            f"from main.{t} where _marker" for t in sorted(KEYS_BUILT))).fetchall()
        assert len(markers) == len(KEYS_BUILT)
        assert {all_rows for _, all_rows, _, _ in markers} == {False}, "the night recorded every row as written"
        assert len({built_at for _, _, built_at, _ in markers}) == 1, "one build wrote them all"
        written = {table: keys for table, _, _, keys in markers}
        # the night rewrote touchpoints, paths and the late order's conversion: these models wrote rows
        for table in ("int_journeys__touchpoints_sessionized", "fct_touchpoints", "int_journeys__paths",
                      "int_journeys__attribution_credits", "fct_attribution", "int_identity__records"):
            assert written[table] > 0, table
        con.execute(f"attach '{nightly.warehouse}' as night (read_only)")
        for table, keys in (("int_journeys__touchpoints_sessionized", "touchpoint_id"),
                            ("int_journeys__attribution_credits", "conversion_id, model, touch_id")):
            night_rows = (f"select {keys} from night.intermediate.{table} "
                          f"where _build_number = (select max(_build_number) from night.intermediate.{table})")
            recorded_keys = f"select {keys} from main.{table} where not _marker"
            assert con.execute(f"select count(*) from ({night_rows} except all {recorded_keys})").fetchone() == (0,)
            assert con.execute(f"select count(*) from ({recorded_keys} except all {night_rows})").fetchone() == (0,)
    finally:
        con.close()
    night_tests, full_tests = compiled_tests(nightly.warehouse), compiled_tests(full.warehouse)
    scoped = {name for name, sql in night_tests.items() if "journey_keys_built.main." in sql}
    assert len(scoped) == 25 and {name for name in scoped if "unique" not in name} == {
        "assert_attribution_credits_sum_to_one", "assert_attribution_uses_the_path_touches"}
    for other in (full_tests, compiled_tests(refreshed.warehouse)):
        assert not any("journey_keys_built.main." in sql for sql in other.values())
        assert set(other) >= scoped


def night_with_its_keys(nightly, tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A connection to a copy of the night's warehouse with a copy of the keys its dbt build recorded attached (as
    the build's tests had them), and that copy's path."""
    warehouse = copy_warehouse(nightly.warehouse, tmp_path / "journey.duckdb")
    keys = tmp_path / "keys_built.duckdb"
    shutil.copy(nightly.summary["keys_built"], keys)
    con = duckdb.connect(str(warehouse))
    con.execute(f"attach '{keys}' as journey_keys_built (read_only)")
    return con, keys


def written_and_untouched(con: duckdb.DuckDBPyConnection, table: str, column: str) -> tuple:
    """A value of `column` the night wrote into `table` (by its recorded keys), and one it did not."""
    found = tuple(con.execute(
        f"select min({column}) from {table} where {column} {op} "
        f"(select {column} from journey_keys_built.main.{table.split('.')[-1]} where not _marker)").fetchone()[0]
        for op in ("in", "not in"))
    assert all(found), found
    return found


def test_a_nights_uniqueness_test_fails_on_a_key_it_wrote_twice(nightly, tmp_path):
    """The scoped test of the night, run again on a copy: a second row for a key the night wrote fails it, whether
    the second row is new or an older row; a duplicate among rows no build touched that night is not its to find
    (the build that wrote them checked them)."""
    con, keys = night_with_its_keys(nightly, tmp_path)
    sql = compiled_tests(nightly.warehouse)["unique_fct_touchpoints_touchpoint_id"]
    try:
        written, untouched = written_and_untouched(con, "marts.fct_touchpoints", "touchpoint_id")
        assert con.execute(sql).fetchone()[0] == 0
        con.execute("insert into marts.fct_touchpoints select * from marts.fct_touchpoints where touchpoint_id = ?",
                    [untouched])
        assert con.execute(sql).fetchone()[0] == 0
        con.execute("insert into marts.fct_touchpoints select * from marts.fct_touchpoints where touchpoint_id = ?",
                    [written])
        assert con.execute(sql).fetchone()[0] == 1
        # a composite key with a null part: journey_unique_combination counts two such rows as one key twice
        [combination] = [name for name, text in compiled_tests(nightly.warehouse).items()
                         if name.startswith("journey_unique_combination") and
                         "journey_keys_built.main.int_journeys__attribution_credits" in text]
        sql = compiled_tests(nightly.warehouse)[combination]
        credits = "intermediate.int_journeys__attribution_credits"
        assert con.execute(sql).fetchone()[0] == 0
        con.execute(f"insert into {credits} select * replace (null as touch_id) from {credits} where touch_id = "
                    f"(select min(touch_id) from journey_keys_built.main.int_journeys__attribution_credits "
                    f"where not _marker)")
        con.execute("detach journey_keys_built")
        con.execute(f"attach '{keys}' as journey_keys_built")
        con.execute("insert into journey_keys_built.main.int_journeys__attribution_credits (conversion_id, model, "
                    "touch_id, _marker, _all_rows, _built_at) select conversion_id, model, null, false, false, "
                    "_built_at from journey_keys_built.main.int_journeys__attribution_credits where not _marker "
                    "and touch_id = (select min(touch_id) from journey_keys_built.main.int_journeys__attribution_credits "
                    "where not _marker) and _built_at is not null")
        assert con.execute(sql).fetchone()[0] == 0, "one row with a null touch is no duplicate"
        con.execute(f"insert into {credits} select * from {credits} where touch_id is null")
        assert con.execute(sql).fetchone()[0] >= 1
    finally:
        con.close()


def test_a_nights_attribution_tests_check_the_conversions_it_wrote(nightly, tmp_path):
    """fct_attribution's two singular tests as the night ran them, on a copy: a first-touch credit doubled (with one
    touch more) on a conversion the night wrote fails both; the same on a conversion no build touched that night is
    left to the mart gate, which judges every conversion (tests/test_quality_marts.py)."""
    con, _ = night_with_its_keys(nightly, tmp_path)
    tests = compiled_tests(nightly.warehouse)
    checks = [tests["assert_attribution_credits_sum_to_one"], tests["assert_attribution_uses_the_path_touches"]]
    try:
        written, untouched = written_and_untouched(con, "marts.fct_attribution", "conversion_id")
        assert [con.execute(sql).fetchone()[0] for sql in checks] == [0, 0]
        break_credit = ("update marts.fct_attribution set credit = credit + 1, touches_count = touches_count + 1 "
                        "where conversion_id = ? and model = 'first_touch'")
        con.execute(break_credit, [untouched])
        assert [con.execute(sql).fetchone()[0] for sql in checks] == [0, 0]
        con.execute(break_credit, [written])
        assert [con.execute(sql).fetchone()[0] for sql in checks] == [1, 1]
    finally:
        con.close()


def test_only_the_first_dbt_build_of_a_fresh_build_file_scopes_its_uniqueness_tests(tmp_path):
    """The start of a build file leaves a marker; the dbt step takes it (its tests may read the keys it wrote), so a
    dbt step run again on the same file (Dagster's re-execution of a failed run, whose first attempt may have
    committed rows its tests refused) finds none and tests whole tables."""
    build = tmp_path / "journey.duckdb.build"
    assert take_fresh_build_marker(build) == "0"
    Path(fresh_build_marker(build)).touch()
    assert take_fresh_build_marker(build) == "1"
    assert take_fresh_build_marker(build) == "0"
