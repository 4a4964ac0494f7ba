"""dbt macros that every model's SQL goes through, rendered by Jinja as dbt renders them (tests.helpers.dbt_macros)
and checked against hand-written SQL: no dbt run, no warehouse."""

from __future__ import annotations

import pytest

from tests.helpers import DbtCompilerError, dbt_macros

KEPT = "not exists (select 1 from values_ as v where v.node_id = stored.node_id)"


def incremental_macros(engine: str, incremental: bool = True):
    """The stored-rows macros of an incremental build of model `main.guards` (Spark: previous generation g1)."""
    return dbt_macros(engine, "spark_incremental.sql", this="main.guards", execute=True,
                      dbt={"is_incremental": lambda: incremental}, model={"config": {"materialized": "incremental"}},
                      should_full_refresh=lambda: not incremental, previous_generation=lambda relation: relation + "__g1")


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_a_stored_rows_scope_is_a_delete_on_duckdb_and_a_marked_predicate_on_spark(engine: str) -> None:
    macros = incremental_macros(engine)
    expected = {"duckdb": f"delete from main.guards as stored where {KEPT}",
                "spark": f"-- journey: rows of the previous generation not kept, as stored\n    {KEPT}"}
    assert str(macros.delete_stored_rows("stored", KEPT)).strip() == expected[engine]
    kept = {"duckdb": "main.guards",
            "spark": f"(select * from main.guards__g1 as stored where not coalesce(({KEPT}), false))"}
    assert str(macros.stored_rows_kept("stored", KEPT)).strip() == kept[engine]
    # a first build deletes nothing
    assert incremental_macros(engine, incremental=False).delete_stored_rows("stored", KEPT) == ""


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize("incremental", [True, False])
def test_a_stored_rows_scope_written_with_not_in_a_subquery_is_refused(engine: str, incremental: bool) -> None:
    # Spark keeps the rows outside a scope as `not coalesce((scope), false)`, where a `not in` subquery is planned as a
    # null-aware join of every pair of rows: the identifier guards' night at 100k people stalled on it. The macros
    # refuse the form on both engines and on every build, so the first DuckDB build of a model finds it.
    macros = incremental_macros(engine, incremental)
    for written in ("stored.node_id not in (select node_id from values_)", "stored.node_id NOT IN(\n  SELECT node_id from v)",
                    "stored.x not in ((select x from v))", "stored.x not in (with v as (select 1 as x) select x from v)"):
        with pytest.raises(DbtCompilerError, match="not exists"):
            macros.delete_stored_rows("stored", written)
        with pytest.raises(DbtCompilerError, match="not exists"):
            macros.stored_rows_kept("stored", written)
    # a list of literals is no subquery; `in` and `exists` subqueries are the way to write a scope; a name ending in
    # "not" is no `not`
    for allowed in ("stored.node_id not in ('a', 'b')", "stored.node_id in (select node_id from v)", KEPT,
                    "stored.is_knot in (select x from v)"):
        macros.delete_stored_rows("stored", allowed)
        macros.stored_rows_kept("stored", allowed)
