"""benchmarks/dbt_statements.py: a dbt debug log's statements paired with their times, per thread and invocation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import dbt_statements  # noqa: E402


def event(name: str, thread: str, invocation: str = "night", **data) -> str:
    return json.dumps({"data": data, "info": {"name": name, "thread": thread, "invocation_id": invocation}})


def query(thread: str, node: str, sql: str, invocation: str = "night") -> str:
    return event("SQLQuery", thread, invocation, sql=f"/* {{\"app\": \"dbt\"}} */\n{sql}",
                 node_info={"unique_id": node})


def status(thread: str, seconds: float, invocation: str = "night") -> str:
    return event("SQLQueryStatus", thread, invocation, status="OK", elapsed=seconds)


LOG = [
    "not json: dbt's text line",
    # an earlier invocation in the same file: not counted
    query("Thread-1", "model.p.old", "create temporary table x as (select 1)", invocation="before"),
    status("Thread-1", 9.0, invocation="before"),
    # two threads interleaved: each status belongs to its own thread's statement
    query("Thread-1 (worker)", "model.p.guards", 'create temporary table "g__dbt_tmp1" as (\n select 1)'),
    query("Thread-2 (worker)", "test.p.unique_x", "select count(*) as failures from (select 1)"),
    status("Thread-2 (worker)", 0.25),
    status("Thread-1 (worker)", 4.5),
    query("Thread-1 (worker)", "model.p.guards", 'delete from "t" where x in (select 1)'),
    status("Thread-1 (worker)", 0.5),
    query("Thread-1 (worker)", "model.p.guards", "COMMIT"),
    status("Thread-1 (worker)", 1.5),
    query("Thread-2 (worker)", "model.p.daily", 'create table "j"."m"."daily__dbt_tmp" as (select 1)'),
    status("Thread-2 (worker)", 1.25),
    query("Thread-2 (worker)", "model.p.daily", "alter table x rename to y"),
    status("Thread-2 (worker)", 0.0),
    query("MainThread", "", "attach 'x' as y"),  # a statement whose status never came: not counted
]


def test_statements_of_the_last_invocation_paired_per_thread_and_classified():
    found = dbt_statements.statements(LOG)
    assert [(s.node, s.seconds, s.kind) for s in found] == [
        ("test.p.unique_x", 0.25, "data test"),
        ("model.p.guards", 4.5, "incremental batch"),
        ("model.p.guards", 0.5, "delete"),
        ("model.p.guards", 1.5, "commit"),
        ("model.p.daily", 1.25, "table built whole"),
        ("model.p.daily", 0.0, "other"),
    ]
    assert found[1].sql == 'create temporary table "g__dbt_tmp1" as ( select 1)'  # comment gone, one line
    assert dbt_statements.by_kind(found)[0] == ("incremental batch", 1, 4.5)
    assert [s.seconds for s in dbt_statements.statements(LOG, invocation="before")] == [9.0]


def test_node_time_outside_statements_and_a_log_without_times(tmp_path, capsys):
    found = dbt_statements.statements(LOG)
    run_results = {"results": [{"unique_id": "model.p.guards", "execution_time": 7.0},
                               {"unique_id": "test.p.unique_x", "execution_time": 0.3}]}
    assert [(node, round(python, 2)) for node, _, python in dbt_statements.python_time(found, run_results)] == [
        ("model.p.guards", 0.5), ("test.p.unique_x", 0.05)]

    log = tmp_path / "dbt.log"
    log.write_text("\n".join(LOG))
    assert dbt_statements.main([str(log), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("6 statements, 8.0 s") and "slowest 2:" in out

    info_only = tmp_path / "info.log"
    info_only.write_text(event("MainReportVersion", "MainThread", msg="Running with dbt"))
    assert dbt_statements.main([str(info_only)]) == 2
    assert "DBT_LOG_LEVEL_FILE=debug" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no JSON line"):
        dbt_statements.statements(["plain text"])
