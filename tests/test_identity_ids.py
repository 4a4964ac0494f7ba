"""Stable customer ids across runs: unrelated data changes no id, a bridging record merges two customers
(the older id survives and the merge is recorded), evidence that disappears splits them again (recorded,
original ids restored). Runs the real dbt identity models on hand-made raw rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.lib.warehouse import connect, ensure_tables
from rules.contract import SOURCES
from tests.helpers import dbt

pytestmark = pytest.mark.slow

IDENTITY_SELECTION = "+dim_customers +customer_identifiers +customer_merges +int_identity__record_customers"


def insert(build: Path, source: str, rows: list[dict]) -> None:
    """Append rows to raw.<source> with lineage, every contract column as text (missing ones empty)."""
    columns = list(SOURCES[source].columns)
    con = connect(str(build))
    try:
        ensure_tables(con)
        start = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
        for offset, row in enumerate(rows, start=1):
            values = [None if row.get(c) is None else str(row[c]) for c in columns]
            lineage = [f"{source}/2026-09-01/test.csv", start + offset, "2026-09-01", "2026-09-02 00:00:00", "x", "test"]
            marks = ", ".join("?" for _ in columns + lineage)
            con.execute(f"insert into raw.{source} ({', '.join(columns)}, _source_file, _row_number, _export_date, "
                        f"_loaded_at, _file_sha256, _load_id) values ({marks})", values + lineage)
    finally:
        con.close()


def build_identity(warehouse: Path, *extra: str) -> None:
    """dbt builds the identity models into `<warehouse>.build`; its artifacts and parse state stay in
    `<warehouse>.dbt` (as the pipeline's dbt step keeps them), so the next build there parses only what changed."""
    # cautious: only tests whose parents are all selected (not the journey tests that also touch dim_customers)
    result = dbt("build", "--select", IDENTITY_SELECTION, "--exclude", "test_type:unit", "--indirect-selection", "cautious",
                 *extra, warehouse=warehouse, target=warehouse.with_name(warehouse.name + ".dbt"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def query(build: Path, sql: str) -> list[tuple]:
    con = connect(str(build), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def customer_of(build: Path, source: str, record_id: str) -> str | None:
    rows = query(build, f"select customer_id from intermediate.int_identity__record_customers "
                        f"where source_name = '{source}' and record_id = '{record_id}'")
    assert len(rows) == 1, (source, record_id, rows)
    return rows[0][0]


def order(order_id: str, user_id: str, email: str, at: str, **extra) -> dict:
    return {"order_id": order_id, "order_updated_at": at, "placed_at": at, "user_id": user_id, "email": email,
            "status": "placed", "total_amount": "10.00", "currency": "USD", "sales_channel": "web", **extra}


def review(review_id: str, user_id: str, email: str, at: str) -> dict:
    return {"review_id": review_id, "posted_at": at, "email": email, "user_id": user_id, "platform": "website",
            "rating": "5", "product_id": "p1"}


@pytest.fixture
def warehouse(scratch) -> tuple[Path, Path]:
    """A new warehouse at the worker's scratch path (where dbt starts from the previous test's parse state)."""
    return scratch, scratch.with_name(scratch.name + ".build")


def test_ids_survive_unrelated_data_and_follow_merges_and_splits(warehouse):
    published, build = warehouse
    # Run 1: Ann (older: seen first) and Bob, two customers.
    insert(build, "crm_contacts", [{
        "contact_id": "c1", "updated_at": "2026-09-01T08:00:00Z", "first_name": "Ann", "last_name": "Lee",
        "email": "ann@x.com", "phone": "4155550001", "loyalty_id": "L1",
        "marketing_consent": "true", "personalization_consent": "true"}])
    insert(build, "orders", [order("o1", "uA", "ann@x.com", "2026-09-02T10:00:00Z"),
                             order("o2", "uB", "bob@x.com", "2026-09-05T10:00:00Z")])
    insert(build, "web_events", [{"event_id": "w1", "occurred_at": "2026-09-05T09:00:00Z", "anonymous_id": "anonB",
                                  "user_id": "uB", "event_type": "login", "page_url": "https://shop/"}])
    build_identity(published)
    ann, bob = customer_of(build, "crm_contacts", "c1"), customer_of(build, "orders", "o2")
    assert ann and bob and ann != bob
    assert customer_of(build, "orders", "o1") == ann
    assert customer_of(build, "web_events", "w1") == bob

    # Run 2: an unrelated person changes no existing id.
    insert(build, "orders", [order("o3", "uD", "dee@x.com", "2026-08-01T10:00:00Z")])
    build_identity(published)
    assert customer_of(build, "crm_contacts", "c1") == ann
    assert customer_of(build, "orders", "o2") == bob
    dee = customer_of(build, "orders", "o3")
    assert dee not in (None, ann, bob)
    assert query(build, "select count(*) from marts.customer_merges") == [(0,)]

    # Run 3: a review written with Bob's e-mail from Ann's account bridges them: Ann's (older) id survives.
    insert(build, "reviews", [review("r1", "uA", "bob@x.com", "2026-09-10T10:00:00Z")])
    build_identity(published)
    assert customer_of(build, "orders", "o2") == ann
    assert customer_of(build, "web_events", "w1") == ann
    assert customer_of(build, "orders", "o3") == dee
    merges = query(build, "select old_customer_id, new_customer_id, change_type, reason from marts.customer_merges")
    assert [(m[0], m[1], m[2]) for m in merges] == [(bob, ann, "merge")]
    assert "reviews:r1" in merges[0][3]
    assert query(build, f"select count(*) from marts.dim_customers where customer_id = '{bob}'") == [(0,)]

    # Run 4: Ann's account turns out to be used with a third e-mail: shared by 3 people (> 2), it no longer
    # links, so Bob splits off again and gets his original id back.
    insert(build, "reviews", [review("r2", "uA", "zed@x.com", "2026-09-11T10:00:00Z")])
    build_identity(published)
    assert customer_of(build, "crm_contacts", "c1") == ann
    assert customer_of(build, "orders", "o2") == bob
    splits = query(build, "select old_customer_id, new_customer_id, change_type, reason from marts.customer_merges "
                          "where change_type = 'split'")
    assert [(s[0], s[1], s[2]) for s in splits] == [(ann, bob, "split")]
    assert "user_id:uA" in splits[0][3]

    # Run 5: nothing new: nothing changes, nothing is recorded.
    all_customers = "select source_name, record_id, customer_id from intermediate.int_identity__record_customers order by 1, 2"
    before = query(build, all_customers)
    build_identity(published)
    assert query(build, all_customers) == before
    assert query(build, "select count(*) from marts.customer_merges") == [(2,)]

    # Every build above after the first was incremental (it reworked what its new rows could reach): recomputing
    # everything from all records ends in the same identity, to the last column of the id map.
    state = {
        "id map": "select * exclude (run_at) from intermediate.int_identity__customer_id_map order by node_id",
        "guards": "select * exclude (_changed_at) from intermediate.int_identity__identifier_guards order by node_id",
        "records": "select * exclude (_changed_at) from intermediate.int_identity__record_customers order by 1, 2",
        "customers": "select * from marts.dim_customers order by customer_id",
        "identifiers": "select * from marts.customer_identifiers order by 1, 2, 3",
    }
    incremental = {name: query(build, sql) for name, sql in state.items()}
    build_identity(published, "--full-refresh")
    assert {name: query(build, sql) for name, sql in state.items()} == incremental
    assert query(build, "select count(*) from marts.customer_merges") == [(2,)]


def test_rerun_from_scratch_reproduces_ids(warehouse):
    """New ids are derived from the data, not from the run: two fresh warehouses give the same ids."""
    published, build = warehouse
    rows = [order("o1", "uA", "ann@x.com", "2026-09-02T10:00:00Z"), order("o2", "uB", "bob@x.com", "2026-09-05T10:00:00Z")]
    insert(build, "orders", rows)
    build_identity(published)
    first = query(build, "select record_id, customer_id from intermediate.int_identity__record_customers order by 1")
    # The second fresh warehouse at the same path (a new build file; dbt's parse state, not data, is kept)
    build.unlink()
    build.with_name(build.name + ".wal").unlink(missing_ok=True)
    insert(build, "orders", rows)
    assert query(build, "select count(*) from information_schema.tables where table_schema = 'intermediate'") == [(0,)]
    build_identity(published)
    assert query(build, "select record_id, customer_id from intermediate.int_identity__record_customers order by 1") \
        == first
