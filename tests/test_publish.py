"""Publishing and rollback: readers are never blocked and never see a half-built warehouse."""

import json
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from orchestration.lib.publish import previous_path, publish, rollback


def make_warehouse(path, version: int, rows: int = 1000) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table marts.t as select {version} as version, range as i from range({rows})")
    con.execute(f"create or replace table marts.u as select {version} as version")
    con.close()


def read_version(path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select (select max(version) from marts.t), (select max(version) from marts.u)").fetchone()
    finally:
        con.close()


def test_publish_keeps_previous_and_rollback_restores_it(tmp_path):
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(build, 1)
    publish(build, published)
    assert read_version(published) == (1, 1) and not build.exists()
    make_warehouse(build, 2)
    result = publish(build, published)
    assert result.previous == previous_path(published)
    assert read_version(published) == (2, 2) and read_version(result.previous) == (1, 1)
    rollback(published)
    assert read_version(published) == (1, 1) and read_version(previous_path(published)) == (2, 2)


def test_publish_without_build_file_changes_nothing(tmp_path):
    published = tmp_path / "journey.duckdb"
    make_warehouse(published, 1)
    with pytest.raises(FileNotFoundError):
        publish(tmp_path / "missing.build", published)
    assert read_version(published) == (1, 1)


def test_rollback_without_previous_version_is_a_clear_error(tmp_path):
    published = tmp_path / "journey.duckdb"
    make_warehouse(published, 1)
    with pytest.raises(FileNotFoundError, match="previous"):
        rollback(published)


READER = textwrap.dedent(
    """
    import duckdb, json, os, sys, time
    path, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    query = "select (select max(version) from marts.t), (select max(version) from marts.u)"
    seen, errors = [], []
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None  # a BI session left open

    def read():
        try:
            if held is not None:
                seen.append(list(held.execute(query).fetchone()))
            else:  # a new dashboard query each time (DuckDB shares one instance per file within a process)
                fresh = duckdb.connect(path, read_only=True)
                seen.append(list(fresh.execute(query).fetchone()))
                fresh.close()
        except Exception as exc:
            errors.append(str(exc))

    read()
    open(out + ".ready", "w").close()  # connected and read once: the run may start
    deadline = time.monotonic() + 120  # a safety net only: the test says when to stop
    while not os.path.exists(out + ".stop") and time.monotonic() < deadline:
        read()
        time.sleep(0.01)
    read()  # once more after the publish
    json.dump({"seen": seen, "errors": errors}, open(out, "w"))
    """
)


def wait_for(path, proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "a reader ended before it was ready"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)


def test_reader_during_a_run_is_neither_blocked_nor_sees_a_partial_state(tmp_path):
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(build, 1)
    publish(build, published)
    script = tmp_path / "reader.py"
    script.write_text(READER)
    readers = {
        mode: subprocess.Popen([sys.executable, str(script), str(published), str(tmp_path / f"{mode}.json"), mode])
        for mode in ("hold", "fresh")
    }
    try:
        for mode, proc in readers.items():  # the readers are connected before the nightly run starts writing
            wait_for(tmp_path / f"{mode}.json.ready", proc)
        make_warehouse(build, 2, rows=200_000)  # the run writes its build file while readers read ...
        publish(build, published)  # ... and publishes it in one step
    finally:
        for mode in readers:
            (tmp_path / f"{mode}.json.stop").touch()
        for proc in readers.values():
            proc.wait(timeout=60)
    held = json.loads((tmp_path / "hold.json").read_text())
    fresh = json.loads((tmp_path / "fresh.json").read_text())
    assert held["errors"] == [] and fresh["errors"] == []
    assert held["seen"] and fresh["seen"]
    assert all(v == [1, 1] for v in held["seen"])  # an open session keeps its consistent version
    assert all(v in ([1, 1], [2, 2]) for v in fresh["seen"])  # never a mix of versions
    assert fresh["seen"][0] == [1, 1] and fresh["seen"][-1] == [2, 2]


def test_storage_version_applies_to_new_files_and_converts_an_existing_one_once(tmp_path, monkeypatch):
    from orchestration.lib.warehouse import (
        STORAGE_VERSION_ENV,
        requested_storage_version,
        start_build_file,
        storage_version,
    )

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    assert "new warehouse file" in start_build_file(str(published), str(build), "v1.4.0")
    assert storage_version(str(build)) == "v1.4.0+"
    build.unlink()
    con = duckdb.connect(str(published))  # a warehouse published in the newest format, with a view and a macro
    con.execute("create schema raw; create table raw.t as select range as a from range(5); "
                "create schema staging; create view staging.v as select a * 2 as b from raw.t; "
                "create schema intermediate; create view intermediate.w as select b + 1 as c from staging.v; "
                "create macro plus_one(x) as x + 1")
    con.close()
    assert storage_version(str(published)) != "v1.4.0+"
    assert "converted" in start_build_file(str(published), str(build), "v1.4.0")
    con = duckdb.connect(str(build), read_only=True)
    try:
        assert con.execute("select sum(b), plus_one(1) from staging.v").fetchone() == (20, 2)
        # a view over a view of another schema (dbt's intermediate layer over staging) survives the conversion
        assert con.execute("select sum(c) from intermediate.w").fetchone() == (25,)
    finally:
        con.close()
    assert storage_version(str(build)) == "v1.4.0+"
    build.replace(published)
    # once converted, later runs copy the file as it is
    assert "starts from published" in start_build_file(str(published), str(build), "v1.4.0")
    assert build.read_bytes() == published.read_bytes()
    monkeypatch.setenv(STORAGE_VERSION_ENV, "1.4")
    with pytest.raises(ValueError, match="v1.4.0"):
        requested_storage_version()
    monkeypatch.setenv(STORAGE_VERSION_ENV, "")
    assert requested_storage_version() is None
