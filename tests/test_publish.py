"""Publishing and rollback: readers are never blocked and never see a half-built warehouse."""

import json
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from orchestration.lib.publish import bi_path, previous_path, publish, rollback


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
    # the BI file beside it: its previous version kept too, and swapped back with the warehouse's
    bi = bi_path(published)
    assert read_version(bi) == (2, 2) and read_version(previous_path(bi)) == (1, 1)
    rollback(published)
    assert read_version(published) == (1, 1) and read_version(previous_path(published)) == (2, 2)
    assert read_version(bi) == (1, 1) and read_version(previous_path(bi)) == (2, 2)


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
    path, out, seconds, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    query = "select (select max(version) from marts.t), (select max(version) from marts.u)"
    seen, errors = [], []
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None  # a BI session left open
    deadline = time.monotonic() + seconds  # a safety net: the test says when to stop
    while True:
        stopping = os.path.exists(out + ".stop")  # created after the publish: this read is the last one
        try:
            if held is not None:
                seen.append(list(held.execute(query).fetchone()))
            else:  # a new dashboard query each time (DuckDB shares one instance per file within a process)
                fresh = duckdb.connect(path, read_only=True)
                seen.append(list(fresh.execute(query).fetchone()))
                fresh.close()
        except Exception as exc:
            errors.append(str(exc))
        if not os.path.exists(out + ".ready"):
            open(out + ".ready", "w").close()  # connected and read once: the run may start
        if stopping or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    json.dump({"seen": seen, "errors": errors}, open(out, "w"))
    """
)


def test_reader_during_a_run_is_neither_blocked_nor_sees_a_partial_state(tmp_path):
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(build, 1)
    publish(build, published)
    script = tmp_path / "reader.py"
    script.write_text(READER)
    outs = {mode: tmp_path / f"{mode}.json" for mode in ("hold", "fresh")}
    readers = {
        mode: subprocess.Popen([sys.executable, str(script), str(published), str(out), "120", mode])
        for mode, out in outs.items()
    }
    try:
        deadline = time.monotonic() + 60
        while not all(out.with_name(out.name + ".ready").exists() for out in outs.values()):
            assert time.monotonic() < deadline, "the readers never connected"
            time.sleep(0.05)  # the readers are connected before the nightly run starts writing
        make_warehouse(build, 2, rows=200_000)  # the run writes its build file while readers read ...
        publish(build, published)  # ... and publishes it in one step
        time.sleep(0.5)  # readers go on reading the new version for a while
    finally:
        for out in outs.values():
            out.with_name(out.name + ".stop").touch()
        for proc in readers.values():
            proc.wait(timeout=60)
    held = json.loads(outs["hold"].read_text())
    fresh = json.loads(outs["fresh"].read_text())
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


# ------------------------------------------------------------------------ the build file: clone or copy
def test_build_file_is_a_byte_copy_where_the_file_system_cannot_clone(tmp_path, monkeypatch):
    """The fallback as it runs here (ext4 answers EOPNOTSUPP to FICLONE), and when copy_file_range is missing."""
    import errno

    from orchestration.lib import warehouse as wh

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(published, 1, rows=50_000)

    def no_clone(fd, request, arg):
        assert request == wh.FICLONE
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(wh.fcntl, "ioctl", no_clone)
    said = wh.start_build_file(str(published), str(build), None)
    assert "copied" in said and "copy_file_range" in said and "FICLONE: Operation not supported" in said and "cloned" not in said
    assert build.read_bytes() == published.read_bytes()

    def no_copy_file_range(*args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    build.write_bytes(b"stale bytes of a killed run")
    monkeypatch.setattr(wh.os, "copy_file_range", no_copy_file_range)
    said = wh.start_build_file(str(published), str(build), None)
    assert "byte copy (copy_file_range unavailable" in said
    assert build.read_bytes() == published.read_bytes()
    assert read_version(build) == (1, 1)


def test_build_file_on_this_machine_is_a_faithful_copy(tmp_path):
    """No monkeypatching: whatever this file system supports, the build file starts as the published one."""
    from orchestration.lib.warehouse import start_build_file

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(published, 1, rows=50_000)
    said = start_build_file(str(published), str(build), None)
    assert said.split(": ", 1)[1].startswith(("cloned copy-on-write", "copied "))
    assert build.read_bytes() == published.read_bytes()
    make_warehouse(build, 2)  # writing the build file leaves the published one as it was
    assert read_version(published) == (1, 1) and read_version(build) == (2, 2)


def test_build_file_is_a_clone_where_the_file_system_can(tmp_path, monkeypatch):
    """The FICLONE path, simulated: the ioctl is asked for with the target's and the source's descriptors, and
    nothing is copied by the pipeline itself (no copy_file_range, no byte copy)."""
    import shutil as shutil_module

    from orchestration.lib import warehouse as wh

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(published, 1, rows=50_000)
    calls = []

    def fake_clone(fd, request, arg):  # what a reflink does, as far as the file's content goes
        calls.append(request)
        with open(f"/proc/self/fd/{arg}", "rb") as src, open(f"/proc/self/fd/{fd}", "wb") as dst:
            dst.write(src.read())

    def must_not_copy(*args, **kwargs):
        raise AssertionError("a cloned file must not be copied as well")

    monkeypatch.setattr(wh.fcntl, "ioctl", fake_clone)
    monkeypatch.setattr(wh.os, "copy_file_range", must_not_copy)
    monkeypatch.setattr(shutil_module, "copyfileobj", must_not_copy)
    said = wh.start_build_file(str(published), str(build), None)
    assert calls == [wh.FICLONE]
    assert "cloned copy-on-write (FICLONE)" in said and "copied " not in said
    assert build.read_bytes() == published.read_bytes()


def test_the_early_copy_is_taken_as_the_build_file_or_else_left_nowhere(tmp_path, monkeypatch):
    """A run's early copy (started beside its set-up) becomes the build file when the step takes it; one the run
    does not take is removed; a copy that failed leaves nothing, and the step copies itself (take answers None)."""
    from orchestration.lib import warehouse as wh

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    assert wh.start_early_copy(published, build) is None  # no published file yet: the step creates one
    make_warehouse(published, 1, rows=50_000)
    monkeypatch.setenv(wh.STORAGE_VERSION_ENV, "v1.4.0")
    assert wh.start_early_copy(published, build) is None  # a storage version asked for: the step may convert
    monkeypatch.delenv(wh.STORAGE_VERSION_ENV)

    copy = wh.start_early_copy(published, build)
    assert copy is not None and wh.has_early_copy(build) and wh.start_early_copy(published, build) is None
    said = wh.take_early_copy(published, build)
    assert said.endswith("(started with the run)") and "starts from published" in said
    assert build.read_bytes() == published.read_bytes()
    assert not wh.has_early_copy(build) and not (tmp_path / "journey.duckdb.build.early").exists()
    assert wh.take_early_copy(published, build) is None  # taken once

    build.unlink()
    wh.start_early_copy(published, build)  # a copy of another published file than the step's is not taken
    assert wh.take_early_copy(tmp_path / "other.duckdb", build) is None
    assert not build.exists() and not (tmp_path / "journey.duckdb.build.early").exists()

    wh.start_early_copy(published, build)
    wh.discard_early_copy(build)  # the run ended before its first step
    assert not build.exists() and not (tmp_path / "journey.duckdb.build.early").exists()

    def broken_copy(source, target):
        with open(target, "wb") as half:
            half.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wh, "clone_or_copy", broken_copy)
    wh.start_early_copy(published, build)
    assert wh.take_early_copy(published, build) is None
    assert not build.exists() and not (tmp_path / "journey.duckdb.build.early").exists()


def test_the_build_step_removes_a_killed_runs_early_copy_when_its_own_run_started_none(tmp_path):
    """The build step materialized on its own (as from the Dagster UI: no early copy started) removes the copy a
    killed `journey run` left, and starts the build file by copying the published one itself."""
    import dagster as dg

    from orchestration.defs.ingest.assets import build_warehouse
    from orchestration.defs.resources import WarehouseResource
    from tests.helpers import SAMPLE_LANDING

    published = tmp_path / "journey.duckdb"
    make_warehouse(published, 1)
    stale = tmp_path / "journey.duckdb.build.early"
    stale.write_bytes(b"stale bytes of a killed run")
    warehouse = WarehouseResource(warehouse_path=str(published), landing_dir=str(SAMPLE_LANDING),
                                  reports_dir=str(tmp_path / "reports"))
    result = dg.materialize([build_warehouse], resources={"warehouse": warehouse})
    assert result.success and not stale.exists()
    [materialization] = result.asset_materializations_for_node("ops__build_warehouse")
    started = materialization.metadata["start"].value
    assert "starts from published" in started and "started with the run" not in started
    assert read_version(tmp_path / "journey.duckdb.build") == (1, 1)


# ------------------------------------------------------------------------------- compaction at publish
def churned_warehouse(path, nights: int = 2) -> None:
    """A warehouse shaped like the pipeline's (raw, ops with a sequence, staging view, macro, marts) after
    `nights` dbt-style rebuilds of its mart: a rebuild writes the new version before dropping the old one, whose
    blocks are then free (inside the file after an even number of rebuilds; after an odd one DuckDB reuses them
    and cuts the freed tail off the file)."""
    con = duckdb.connect(str(path))
    con.execute("""
        create schema raw; create schema ops; create schema staging; create schema intermediate; create schema marts;
        create sequence ops.load_seq start 1;
        create table ops.loads (load_id bigint default nextval('ops.load_seq'), note varchar);
        create table raw.events as select range as id, md5(range::varchar) as payload from range(300000);
        create table intermediate.customer_id_map as select id, 'c' || (id // 3) as customer_id from raw.events;
        create view staging.events as select id, upper(payload) as payload from raw.events;
        create macro marts.double_it(x) as x * 2;
        comment on table intermediate.customer_id_map is 'never rebuilt';
    """)
    for night in range(nights):
        con.execute("insert into ops.loads (note) values (?)", [f"night {night}"])
        con.execute(f"create table marts.facts__tmp as select id, payload || '{night}' as payload, {night} as night "
                    "from raw.events")
        con.execute("drop table if exists marts.facts; alter table marts.facts__tmp rename to facts")
        con.execute("checkpoint")
    con.close()


ANSWERS = [
    "select count(*), sum(hash(id, payload)) from raw.events",
    "select count(*), sum(hash(id, customer_id)) from intermediate.customer_id_map",
    "select count(*), sum(hash(id, payload)), max(night) from marts.facts",
    "select count(*), sum(hash(id, payload)) from staging.events",
    "select list(load_id order by load_id), list(note order by load_id) from ops.loads",
    "select marts.double_it(21)",
    "select comment from duckdb_tables() where table_name = 'customer_id_map'",
    "select sql from duckdb_views() where view_name = 'events'",
]


def answers(path) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [con.execute(q).fetchall() for q in ANSWERS]
    finally:
        con.close()


def free_share(path) -> float:
    """Share of the file's bytes not in a used block (hand-computed from DuckDB's block counts)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        used, block = con.execute("select used_blocks, block_size from pragma_database_size()").fetchone()
        return 1 - used * block / path.stat().st_size
    finally:
        con.close()


def test_publish_compacts_a_build_with_many_free_blocks_and_keeps_everything(tmp_path):
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    make_warehouse(published, 0)
    churned_warehouse(build)
    share = free_share(build)
    assert share > 0.25  # the old version of the mart is free blocks inside the file now
    size_before, expected = build.stat().st_size, answers(build)
    result = publish(build, published, compact_above=0.15)
    assert result.compaction.compacted and result.compaction.error is None
    assert result.compaction.before.free_share == pytest.approx(share)
    assert "compacted:" in str(result.compaction)
    # the live blocks, and ops.publications (this publish, written after the compaction: a block or two)
    assert published.stat().st_size < size_before * (1 - share) * 1.02 + 2 * 262_144
    assert free_share(published) < 0.02
    assert answers(published) == expected  # tables, the id map, the view, the macro, the comment, the ops rows
    con = duckdb.connect(str(published))
    try:  # the sequence goes on where it stopped: the next load id follows the last one
        assert con.execute("insert into ops.loads (note) values ('next') returning load_id").fetchall() == [(3,)]
    finally:
        con.close()
    assert not (tmp_path / "journey.duckdb.build.compact").exists() and not build.exists()
    assert read_version(previous_path(published)) == (0, 0)
    rollback(published)
    assert read_version(published) == (0, 0)


def test_publish_leaves_a_build_with_few_free_blocks_as_it_is(tmp_path):
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    churned_warehouse(build, nights=1)  # one version of the mart: nothing freed
    size, inode = build.stat().st_size, build.stat().st_ino
    result = publish(build, published, compact_above=0.15)
    assert not result.compaction.compacted and "not compacted" in str(result.compaction)
    assert published.stat().st_ino == inode  # the same file, renamed
    # with one table more (ops.publications: this publish), in the free space or a block or two after it
    assert size <= published.stat().st_size <= size + 2 * 262_144
    con = duckdb.connect(str(published), read_only=True)
    try:
        assert con.execute("select publication_number, journey_build_number from ops.publications").fetchall() \
            == [(1, None)]
    finally:
        con.close()


def test_deleted_rows_still_stored_count_as_dead_space_and_are_compacted_away(tmp_path):
    """An incremental model's deletes: DuckDB keeps deleted rows in their row group unless merging row groups saves
    one. 240,000 rows in two row groups (122,880 + 117,120); 86,666 deleted leave 153,334, still two row groups:
    nothing is vacuumed, no block is free, yet 36% of the table is dead."""
    from orchestration.lib.warehouse import file_space

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    con = duckdb.connect(str(build))
    con.execute("create schema staging; create table staging.events as "
                "select range as id, md5(range::varchar) as payload from range(240000)")
    con.execute("checkpoint")
    con.execute("delete from staging.events where id >= 130000 and id % 3 = 0")  # 36,667 rows
    con.execute("delete from staging.events where id < 100000 and id % 2 = 0")  # 50,000 rows
    con.execute("checkpoint")
    assert con.execute("select count(*), any_value(estimated_size) from staging.events, duckdb_tables() "
                       "where table_name = 'events'").fetchone() == (153_334, 240_000)
    space = file_space(con, str(build))
    con.close()
    assert space.free_bytes < 0.02 * space.file_bytes  # pragma database_size alone sees nothing to give back
    assert space.deleted_bytes == pytest.approx(space.used_bytes * 86_666 / 240_000, rel=0.1)
    assert space.free_share == pytest.approx(0.36, abs=0.04)
    size, expected = build.stat().st_size, answers_of(build, "select count(*), sum(hash(id, payload)) from staging.events")
    result = publish(build, published, compact_above=0.25)
    assert result.compaction.compacted and "deleted rows" in str(result.compaction)
    assert published.stat().st_size < 0.75 * size
    assert answers_of(published, "select count(*), sum(hash(id, payload)) from staging.events") == expected


def answers_of(path, query: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_compaction_setting(monkeypatch, tmp_path):
    from orchestration.lib.warehouse import COMPACT_FREE_SHARE_ENV, DEFAULT_COMPACT_FREE_SHARE, compact_free_share

    monkeypatch.delenv(COMPACT_FREE_SHARE_ENV, raising=False)
    assert compact_free_share() == DEFAULT_COMPACT_FREE_SHARE
    for good, value in (("0.3", 0.3), ("0", 0.0), ("1", 1.0), (" ", DEFAULT_COMPACT_FREE_SHARE)):
        monkeypatch.setenv(COMPACT_FREE_SHARE_ENV, good)
        assert compact_free_share() == value
    for bad in ("15%", "1.5", "-0.1", "often"):
        monkeypatch.setenv(COMPACT_FREE_SHARE_ENV, bad)
        with pytest.raises(ValueError, match="between 0 and 1"):
            compact_free_share()
    monkeypatch.setenv(COMPACT_FREE_SHARE_ENV, "1")  # 1: never, however fragmented
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    churned_warehouse(build)
    assert not publish(build, published).compaction.compacted
    monkeypatch.setenv(COMPACT_FREE_SHARE_ENV, "0.2")
    churned_warehouse(build)
    assert publish(build, published).compaction.compacted


def test_compaction_keeps_the_storage_format_of_the_build_file(tmp_path, monkeypatch):
    from orchestration.lib.warehouse import STORAGE_VERSION_ENV, create_database, storage_version

    monkeypatch.delenv(STORAGE_VERSION_ENV, raising=False)  # the older format stays although none is asked for
    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    create_database(str(build), "v1.4.0")
    churned_warehouse(build)
    expected = answers(build)
    assert publish(build, published, compact_above=0.15).compaction.compacted
    assert storage_version(str(published)) == "v1.4.0+"
    assert answers(published) == expected


def test_a_failed_compaction_still_publishes_the_checked_build(tmp_path, monkeypatch):
    """Compaction only saves space: a full disk during the rewrite leaves the build as it was, which is published."""
    import errno

    from orchestration.lib import warehouse as wh

    published, build = tmp_path / "journey.duckdb", tmp_path / "journey.duckdb.build"
    churned_warehouse(build)
    expected, size = answers(build), build.stat().st_size
    real_copy = wh.copy_database

    def disk_full(source, target, version):
        real_copy(source, target, version)  # the compacted file is written, then the disk fills up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wh, "copy_database", disk_full)
    result = publish(build, published, compact_above=0.15)
    assert not result.compaction.compacted and "No space left" in result.compaction.error
    assert "NOT compacted, compaction failed" in str(result.compaction)
    assert published.stat().st_size == size and answers(published) == expected
    assert not (tmp_path / "journey.duckdb.build.compact").exists()


def test_pipeline_connections_draw_no_progress_bar(tmp_path):
    """DuckDB draws a progress bar for a query over 2 s, into a run's output and Dagster's captured logs: the
    connections the pipeline opens (warehouse.connect, publishing's included) switch it off."""
    from orchestration.lib.warehouse import connect

    con = connect(str(tmp_path / "journey.duckdb"))
    try:
        assert con.execute("select current_setting('enable_progress_bar')").fetchone() == (False,)
    finally:
        con.close()
