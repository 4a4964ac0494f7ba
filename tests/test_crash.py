"""Kill a run at several points (during ingestion, in the middle of dbt, inside the publish step and its
compaction), start it again, and end in exactly the tables an uninterrupted run produces: no duplicates, nothing
missing.

The run is a real `journey run` process in its own session; it is killed with SIGKILL of its whole process group,
as a scheduler (systemd, Kubernetes) stops a job, so dbt dies with it. The kill points are visited by one
sequence of restarts on one warehouse (each restart killed later than the one before, the last one finishing), so
the night is run to the end once for all of them rather than once each.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from generator import generate
from orchestration.lib.warehouse import compact_database
from orchestration.runner import execute, format_summary
from tests.helpers import copy_key

pytestmark = pytest.mark.slow

# Columns that say when something ran, not what the data is.
RUN_DEPENDENT = {"_loaded_at", "_load_id", "loaded_at", "load_id", "run_id", "started_at", "finished_at",
                 "customer_created_at", "first_assigned_at", "changed_at", "run_at", "merged_at", "noted_at",
                 "_changed_at", "fitted_at", "applied_at", "published_at", "publication_id"}


def content(warehouse: Path, ignore: set[str] = RUN_DEPENDENT) -> dict[str, tuple]:
    """Row count and content hash of every table (ops registry included), ignoring run-dependent columns."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'quarantine', 'ops', 'staging', 'intermediate', 'marts') "
            "and table_name not in ('loads') order by 1, 2"
        ).fetchall()
        out = {}
        for schema, name in tables:
            cols = [r[0] for r in con.execute(f'describe "{schema}"."{name}"').fetchall() if r[0] not in ignore]
            col_sql = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{name}"] = con.execute(
                f'select count(*), coalesce(sum(hash(row({col_sql}))), 0) from "{schema}"."{name}"').fetchone()
        return out
    finally:
        con.close()


def start_run(landing: Path, warehouse: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )


def dbt_running(session_leader: int) -> bool:
    """Is a dbt process of this run's session alive?"""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) != session_leader:
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ProcessLookupError):
            continue
        if b"dbt" in cmdline and b"build" in cmdline:
            return True
    return False


def kill_when(proc: subprocess.Popen, condition, timeout: float = 1800) -> None:
    """Kill the run's process group as soon as `condition()` holds (the deadline only catches a run that hangs:
    on a loaded machine dbt can start minutes into a run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill point:\n{proc.stdout.read().decode()[-3000:]}")
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("kill point never reached")


def finish_run(landing: Path, warehouse: Path) -> None:
    """An uninterrupted run (in this process: only the runs that are killed need a process of their own)."""
    summary = execute(landing, warehouse)
    assert summary.exit_code == 0, format_summary(summary)


def catalog(warehouse: Path) -> dict[str, list]:
    """Every object a compaction must carry over, with its definition."""
    queries = {
        "tables": "select schema_name, table_name, comment, column_count from duckdb_tables() order by all",
        "columns": "select schema_name, table_name, column_name, data_type, is_nullable from duckdb_columns() "
                   "order by all",
        "views": "select schema_name, view_name, sql from duckdb_views() where not internal order by all",
        "macros": "select schema_name, function_name, macro_definition from duckdb_functions() "
                  "where not internal and function_type like '%macro' order by all",
        "sequences": "select schema_name, sequence_name, start_value, last_value from duckdb_sequences() order by all",
        "constraints": "select schema_name, table_name, constraint_type, constraint_text from duckdb_constraints() "
                       "order by all",
    }
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two nights of exports and the tables an uninterrupted run of the second night ends with.

    The uninterrupted second night runs on a compacted copy of the first night's warehouse (what the compaction
    changed, if anything, is kept in `compaction` for test_compacted_warehouse_...); the killed runs below start from
    the uncompacted file, so every restart test also shows the compacted file takes the next night as the
    uncompacted one does (one run of the night fewer than a reference of each kind)."""
    root = tmp_path_factory.mktemp("crash")
    generate(root / "gen", people=150, days=8, seed=5, start=date(2026, 9, 1))
    full = root / "gen" / "landing"
    first_night = root / "night1"
    shutil.copytree(full, first_night)
    for folder in sorted(first_night.glob("*/2026-09-0[7-9]")):  # the last export dates arrive on night 2
        shutil.rmtree(folder)
    published = root / "published" / "journey.duckdb"
    finish_run(first_night, published)
    reference = root / "reference" / "journey.duckdb"
    reference.parent.mkdir()
    shutil.copyfile(published, reference)
    copy_key(published, reference)  # the same key: night 2's new people get the same keyed ids
    rows, objects, size = content(reference, ignore=set()), catalog(reference), reference.stat().st_size
    compaction = {"rows": rows, "objects": objects, "size": size, "compacted_size": compact_database(str(reference)),
                  "rows_after": content(reference, ignore=set()), "objects_after": catalog(reference)}
    finish_run(full, reference)
    return full, published, content(published), content(reference), compaction


def fresh_copy(scene, tmp_path) -> Path:
    _, published, _, _, _ = scene
    warehouse = tmp_path / "warehouse" / "journey.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(published, warehouse)
    copy_key(published, warehouse)
    return warehouse


@pytest.fixture(scope="module")
def killed_again_and_again(scene, tmp_path_factory):
    """One warehouse, night 2 started again and again, each run killed at a later point than the one before (so
    each restart starts from the previous kill's leftovers and gets past the point where that run died), then a
    run that finishes. Every run begins by discarding the previous one's leftovers (build file, WAL, a half-written
    compaction) and starts again from the published file; a kill leaves nothing else but dbt's parse state in
    `<warehouse>.dbt/` and the `.previous` link, which the later runs read and replace. What each kill left for
    readers, and how the finishing run ended, is kept per kill point for the tests below."""
    landing, _, _, _, _ = scene
    warehouse = fresh_copy(scene, tmp_path_factory.mktemp("killed"))
    build = Path(str(warehouse) + ".build")
    compacted = Path(str(warehouse) + ".build.compact")
    early = Path(str(warehouse) + ".build.early")
    seen = {}

    proc = start_run(landing, warehouse)
    kill_when(proc, early.exists)  # the build file's copy, started beside the run's set-up
    seen["early copy"] = {"content": content(warehouse), "left": early.exists()}

    proc = start_run(landing, warehouse)
    kill_when(proc, lambda: build.exists() and build.stat().st_size > 0)
    seen["ingestion"] = {"content": content(warehouse)}

    proc = start_run(landing, warehouse)
    kill_when(proc, lambda: dbt_running(proc.pid))
    seen["dbt"] = {"content": content(warehouse)}

    proc = start_run(landing, warehouse, JOURNEY_FAILPOINT="publish_after_link")
    out = proc.communicate(timeout=600)[0].decode()
    seen["publish"] = {"returncode": proc.returncode, "output": out[-3000:], "content": content(warehouse)}

    # JOURNEY_COMPACT_FREE_SHARE=0 compacts every build: killed with the compacted file written beside the build
    # file, before it replaces it.
    proc = start_run(landing, warehouse, JOURNEY_FAILPOINT="compact_before_swap", JOURNEY_COMPACT_FREE_SHARE="0")
    out = proc.communicate(timeout=600)[0].decode()
    seen["compaction"] = {"returncode": proc.returncode, "output": out[-3000:], "compacted_left": compacted.exists(),
                          "content": content(warehouse)}

    proc = start_run(landing, warehouse, JOURNEY_COMPACT_FREE_SHARE="0", JOURNEY_LOG_LEVEL="INFO")
    out = proc.communicate(timeout=600)[0].decode()
    seen["restart"] = {"returncode": proc.returncode, "output": out, "compacted_left": compacted.exists(),
                       "content": content(warehouse), "early_left": early.exists()}
    return warehouse, seen


def test_kill_during_the_early_copy_then_restart(scene, killed_again_and_again):
    """Killed while the build file's copy (started beside the run's set-up) is made: readers still see last night's
    warehouse, the next runs copy again, and no copy is left behind once a run finishes."""
    _, _, before, expected, _ = scene
    _, seen = killed_again_and_again
    assert seen["early copy"]["content"] == before and seen["early copy"]["left"]
    assert seen["restart"]["returncode"] == 0 and seen["restart"]["content"] == expected
    assert not seen["restart"]["early_left"]


def test_kill_during_ingestion_then_restart(scene, killed_again_and_again):
    _, _, before, expected, _ = scene
    _, seen = killed_again_and_again
    assert seen["ingestion"]["content"] == before  # readers still see last night's warehouse
    # the next run got past the killed ingestion to dbt (kill_when fails the fixture when a run ends before)
    assert seen["restart"]["returncode"] == 0 and seen["restart"]["content"] == expected


def test_kill_in_the_middle_of_dbt_then_restart(scene, killed_again_and_again):
    _, _, before, expected, _ = scene
    _, seen = killed_again_and_again
    assert seen["dbt"]["content"] == before
    assert seen["publish"]["returncode"] == -signal.SIGKILL, seen["publish"]["output"]  # dbt again, to publishing
    assert seen["restart"]["returncode"] == 0 and seen["restart"]["content"] == expected


def test_kill_inside_the_publish_step_then_restart(scene, killed_again_and_again):
    _, _, before, expected, _ = scene
    _, seen = killed_again_and_again
    assert seen["publish"]["returncode"] == -signal.SIGKILL, seen["publish"]["output"]
    assert seen["publish"]["content"] == before  # killed between keeping the old version and swapping in the new one
    assert seen["restart"]["returncode"] == 0 and seen["restart"]["content"] == expected


def test_kill_inside_the_compaction_then_restart_and_roll_back(scene, killed_again_and_again):
    """Readers still see last night; the restart cleans up, compacts and publishes; rollback swaps between the two
    versions."""
    _, _, before, expected, _ = scene
    warehouse, seen = killed_again_and_again
    assert seen["compaction"]["returncode"] == -signal.SIGKILL, seen["compaction"]["output"]
    assert seen["compaction"]["compacted_left"]  # the kill came after the compacted file was written, before the rename
    assert seen["compaction"]["content"] == before
    restart = seen["restart"]
    assert restart["returncode"] == 0, restart["output"][-4000:]
    out = restart["output"]
    assert "build file compacted:" in out  # the publish step's log line
    assert "starts from published" in out and "no copy-on-write clone here" in out or "cloned copy-on-write" in out
    assert not restart["compacted_left"]
    assert restart["content"] == expected
    subprocess.run([sys.executable, "-m", "orchestration.cli", "rollback", "--warehouse", str(warehouse)], check=True)
    assert content(warehouse) == before
    subprocess.run([sys.executable, "-m", "orchestration.cli", "rollback", "--warehouse", str(warehouse)], check=True)
    assert content(warehouse) == expected


def test_compacted_warehouse_answers_the_same_and_takes_the_next_night(scene, killed_again_and_again):
    """A compaction changes nothing a query can see (every row, run-dependent columns included: the persistent
    customer-id map and the merge log with their timestamps, the ops books, views, macros), and the next
    incremental night on the compacted file (the scene's reference) ends in the same tables as on the uncompacted
    one (the killed runs' warehouse, whose last run finished the night)."""
    _, _, _, expected, compaction = scene
    _, seen = killed_again_and_again
    rows, objects = compaction["rows"], compaction["objects"]
    assert "intermediate.int_identity__customer_id_map" in rows and objects["views"]
    assert compaction["compacted_size"] <= compaction["size"]
    assert compaction["rows_after"] == rows
    assert compaction["objects_after"] == objects
    assert seen["restart"]["returncode"] == 0, seen["restart"]["output"][-4000:]
    assert seen["restart"]["content"] == expected
