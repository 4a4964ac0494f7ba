"""Keyed customer ids (docs/privacy.md "Customer ids"): ids are HMAC-SHA256 of the warehouse's customer-id key, and
the key is in no file a run writes. A warehouse an older version built with md5 ids is re-keyed by its next run,
with the merge log leading from each old id to its new one: make_legacy_warehouse and assert_rekeyed, which
tests/test_end_to_end.py's second run on a copy of the sample uses (a run of its own would cost a minute or two)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.customer_ids import customer_id_key, hmac_pads, keyed_customer_id
from orchestration.lib.privacy import forget, key_path
from orchestration.lib.publish import bi_path
from tests.helpers import query

pytestmark = pytest.mark.slow

ID_MAP = "intermediate.int_identity__customer_id_map"


def md5_id(text: str) -> str:
    """An id as versions before keyed ids made it (the old derivation: md5 of the oldest identifier)."""
    return "cus_" + hashlib.md5(text.encode()).hexdigest()[:16]


def test_ids_are_keyed_and_the_key_is_in_no_file_of_the_run(sample_build):
    warehouse = sample_build.warehouse
    privacy = key_path(warehouse).read_text(encoding="utf-8").strip()
    key = customer_id_key(privacy)
    # ids: the HMAC of one of the customer's identifiers with this warehouse's key, never their md5
    rows = query(warehouse, f"select customer_id, list(node_id) from {ID_MAP} where is_active group by customer_id")
    keyed = sum(1 for customer, nodes in rows if customer in {keyed_customer_id(key, n) for n in nodes})
    computable = [customer for customer, nodes in rows if customer in {md5_id(n) for n in nodes}]
    assert len(rows) > 100 and keyed > 0.9 * len(rows), (keyed, len(rows))
    assert not computable, computable[:3]
    assert {keyed_customer_id(customer_id_key("another key"), n) for _, nodes in rows for n in nodes}.isdisjoint(
        {customer for customer, _ in rows}), "another key made the same ids"
    # the key in any form dbt's process had it: the privacy key, the derived key, HMAC's padded keys
    inner, outer = hmac_pads(key)
    secrets = [privacy.encode(), key.encode(), bytes.fromhex(key), inner, outer, inner.hex().encode(),
               outer.hex().encode()]
    files = [p for p in warehouse.parent.rglob("*") if p.is_file() and p != key_path(warehouse)]
    names = {p.name for p in files}
    # what was looked at: dbt's artifacts, compiled and run SQL and log, the run's log, both published files
    assert {"manifest.json", "run_results.json", "dbt.log", "journey-run-latest.log", warehouse.name,
            bi_path(warehouse).name, "int_identity__customer_id_map.sql"} <= names, sorted(names)[:40]
    leaks = [str(p) for p in files if any(s in p.read_bytes() for s in secrets)]
    leaks += [name for name, text in (("stdout", sample_build.stdout), ("stderr", sample_build.stderr))
              if any(s.decode("latin-1") in text for s in secrets[:2])]
    assert not leaks, leaks


def make_legacy(warehouse: Path) -> dict[str, str]:
    """Turn a built warehouse into what a version before keyed ids left: every customer id replaced by an md5 id (of
    the first identifier, by name, first given it), in every table, and the id map without the columns this version added.
    Returns keyed id -> md5 id."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            f"create temp table legacy as select first_customer_id as keyed_id, "
            f"'cus_' || substr(md5(min(node_id)), 1, 16) as legacy_id "
            f"from {ID_MAP} group by first_customer_id")
        missing = con.execute(f"select count(*) from (select customer_id from {ID_MAP} union "
                              f"select previous_customer_id from {ID_MAP}) where customer_id is not null "
                              "and customer_id not in (select keyed_id from legacy)").fetchone()[0]
        assert missing == 0, "an id of the map is no identifier's first id"
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() where database_name = current_database() "
            "and data_type = 'VARCHAR' and column_name like '%customer_id' and schema_name not in ('raw', 'quarantine') "
            "and table_name in (select table_name from duckdb_tables())").fetchall()
        assert len(columns) > 10, columns
        for schema, table, column in columns:
            con.execute(f'update {schema}."{table}" t set "{column}" = legacy.legacy_id from legacy '
                        f'where t."{column}" = legacy.keyed_id')
        con.execute(f"alter table {ID_MAP} drop column customer_id_scheme")
        con.execute(f"alter table {ID_MAP} drop column rekeyed_from")
        con.execute("delete from marts.customer_merges where change_type = 'rekey'")
        con.execute("checkpoint")
        return dict(con.execute("select keyed_id, legacy_id from legacy").fetchall())
    finally:
        con.close()


@dataclass
class LegacyWarehouse:
    """What a warehouse of md5 ids held before its next run: md5 id -> the id its re-keying must give, each record's
    customer, and the customers."""

    rekeyed: dict[str, str]
    records: dict[tuple[str, str], str | None]
    customers: set[str]


RECORDS = "select source_name, record_id, customer_id from intermediate.int_identity__record_customers"


def make_legacy_warehouse(warehouse: Path) -> LegacyWarehouse:
    """make_legacy on a built warehouse (with its privacy key beside it), and what its next run must make of it."""
    key = customer_id_key(key_path(warehouse).read_text(encoding="utf-8").strip())
    legacy = make_legacy(warehouse)
    customers = {c for (c,) in query(warehouse, "select customer_id from marts.dim_customers")}
    assert customers and customers <= set(legacy.values())
    return LegacyWarehouse({old: keyed_customer_id(key, f"rekey|{old}") for old in legacy.values()},
                           {(s, r): c for s, r, c in query(warehouse, RECORDS)}, customers)


def assert_rekeyed(warehouse: Path, before: LegacyWarehouse) -> None:
    """The run after make_legacy_warehouse re-keyed every md5 id, everywhere, and logged each once; new customers of
    that run got keyed ids; the BI file has no rekey row; journey forget finds a person by an md5 id."""
    rekeyed = before.rekeyed
    key = customer_id_key(key_path(warehouse).read_text(encoding="utf-8").strip())
    # every id of the map is keyed; rows keep the md5 id of their customer
    assert query(warehouse, f"select count(*) from {ID_MAP} where customer_id_scheme is distinct from 'hmac-sha256' "
                            "or customer_id in (select unnest($1)) or first_customer_id in (select unnest($1)) "
                            "or previous_customer_id in (select unnest($1))", [list(rekeyed)]) == [(0,)]
    map_rows = query(warehouse, f"select rekeyed_from, customer_id from {ID_MAP} where rekeyed_from is not null")
    assert map_rows and all(rekeyed[old] == new for old, new in map_rows), "a row's customer is not its md5 id re-keyed"
    # every record keeps its person, under the re-keyed id, in the marts too (the run rebuilt them)
    after = {(s, r): c for s, r, c in query(warehouse, RECORDS)}
    assert {k: after.get(k) for k in before.records} == {k: rekeyed[c] if c else None
                                                         for k, c in before.records.items()}
    customers = {c for (c,) in query(warehouse, "select customer_id from marts.dim_customers")}
    assert customers >= {rekeyed[c] for c in before.customers}
    for customer in customers - {rekeyed[c] for c in before.customers}:  # new people of this run
        nodes = [n for (n,) in query(warehouse, f"select node_id from {ID_MAP} where customer_id = ?", [customer])]
        assert customer in {keyed_customer_id(key, n) for n in nodes}, (customer, nodes)
    for table in ("marts.fct_touchpoints", "marts.customer_360", "marts.customer_identifiers"):
        assert query(warehouse, f"select count(*) from {table} where customer_id in (select unnest($1))",
                     [list(rekeyed)]) == [(0,)], table
    # the merge log: one rekey per md5 id that was a customer's, old -> new
    logged = query(warehouse, "select old_customer_id, new_customer_id, identifier_count from marts.customer_merges "
                              "where change_type = 'rekey'")
    olds = {old for old, _ in map_rows}
    assert before.customers <= olds <= set(rekeyed)
    assert sorted((old, new) for old, new, _ in logged) == sorted((old, rekeyed[old]) for old in olds)
    assert sum(n for _, _, n in logged) == len(map_rows)
    # the BI file leaves the rekey rows out (they would link computable ids to keyed ones)
    assert query(bi_path(warehouse), "select count(*) from marts.customer_merges where change_type = 'rekey'") == [(0,)]
    # journey forget finds the person by an md5 id a downstream system still holds
    old = sorted(before.customers)[0]
    result = forget(warehouse, [("customer_id", old)], reason="ticket 1")
    assert result.customers == 1 and not result.unresolved, result
