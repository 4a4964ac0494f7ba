"""Tables the Python side of the pipeline owns: raw.<source>, quarantine.<source> and ops.*.

Layout (the dbt sources and the quality suites rely on it):
- raw.<source>: every export column as text, exactly as delivered (extra columns are added as they appear),
  plus lineage: _source_file (path below the landing folder), _row_number (the record's ordinal in its file,
  1-based, header excluded), _export_date (the folder date), _loaded_at (UTC), _file_sha256, _load_id.
- quarantine.<source>: every rejected row: lineage, _rule (machine name of the rule it broke), _detail (human
  text with the observed value) and _record (the row as JSON text, or the raw line when it could not be parsed).
- ops.loaded_files: one row per loaded file (the idempotency registry, keyed by checksum).
- ops.loads: one row per ingestion of a source (load_id, source, started/finished, counts).
- ops.field_issues: optional fields that could not be parsed: nulled downstream, recorded here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import resource
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import duckdb

from orchestration.lib.privacy import ensure_privacy_tables
from rules.contract import LINEAGE_COLUMNS, SOURCES

QUARANTINE_COLUMNS = (
    "_source_file VARCHAR, _row_number BIGINT, _export_date DATE, _loaded_at TIMESTAMP, _file_sha256 VARCHAR, "
    "_load_id VARCHAR, _rule VARCHAR, _detail VARCHAR, _record VARCHAR"
)
LINEAGE_DDL = (
    "_source_file VARCHAR, _row_number BIGINT, _export_date DATE, _loaded_at TIMESTAMP, _file_sha256 VARCHAR, "
    "_load_id VARCHAR"
)
assert [c.split()[0] for c in LINEAGE_DDL.split(", ")] == list(LINEAGE_COLUMNS)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw, quarantine and ops tables if they do not exist (idempotent)."""
    for schema in ("raw", "quarantine", "ops"):
        con.execute(f"create schema if not exists {schema}")
    for source in SOURCES.values():
        cols = ", ".join(f"{quote(c)} VARCHAR" for c in source.all_columns)
        con.execute(f"create table if not exists raw.{source.name} ({cols}, {LINEAGE_DDL})")
        # optional columns a warehouse made before the contract had them (staging reads them, empty or not)
        for col in source.optional:
            con.execute(f"alter table raw.{source.name} add column if not exists {quote(col)} VARCHAR")
        con.execute(f"create table if not exists quarantine.{source.name} ({QUARANTINE_COLUMNS})")
    con.execute(
        """
        create table if not exists ops.loaded_files (
            file_sha256 VARCHAR, source VARCHAR, file_path VARCHAR, export_date DATE, size_bytes BIGINT,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, status VARCHAR,
            load_id VARCHAR, loaded_at TIMESTAMP, detail VARCHAR, rows_suppressed BIGINT DEFAULT 0
        )
        """
    )
    con.execute(
        """
        create table if not exists ops.loads (
            load_id VARCHAR, source VARCHAR, run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
            files_seen BIGINT, files_loaded BIGINT, files_skipped BIGINT,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, rows_suppressed BIGINT DEFAULT 0
        )
        """
    )
    # rows dropped because they carry an identifier on the suppression list (orchestration/lib/privacy.py);
    # a warehouse made before the column had none
    for table in ("loaded_files", "loads"):
        con.execute(f"alter table ops.{table} add column if not exists rows_suppressed BIGINT DEFAULT 0")
    ensure_privacy_tables(con)  # ops.suppressions (keyed hashes only), ops.erasures
    con.execute(
        """
        create table if not exists ops.field_issues (
            source VARCHAR, _source_file VARCHAR, _row_number BIGINT, _load_id VARCHAR,
            column_name VARCHAR, value VARCHAR, rule VARCHAR
        )
        """
    )
    con.execute(
        """
        create table if not exists ops.schema_changes (
            source VARCHAR, file_path VARCHAR, column_name VARCHAR, change VARCHAR, load_id VARCHAR, noted_at TIMESTAMP
        )
        """
    )


def connect(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the settings every writer uses: UTC session time zone, and no progress bar (a query
    over 2 s would draw one into a run's output and Dagster's captured logs)."""
    con = duckdb.connect(path, read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    return con


# The DuckDB storage format of a new warehouse file (README "Connecting a BI tool"): empty = this DuckDB's newest.
# BI drivers often bundle an older DuckDB, which cannot open a newer format: v1.4.0 is readable by DuckDB 1.4+.
STORAGE_VERSION_ENV = "JOURNEY_STORAGE_VERSION"
MEMORY_LIMIT_ENV = "JOURNEY_DUCKDB_MEMORY_LIMIT"  # dbt's cap too (dbt_project/profiles.yml), default 5GB


def requested_storage_version() -> str | None:
    value = os.environ.get(STORAGE_VERSION_ENV, "").strip()
    if value and not re.fullmatch(r"v\d+\.\d+\.\d+|latest", value):
        raise ValueError(f"{STORAGE_VERSION_ENV}={value!r} is not a DuckDB storage version: use e.g. v1.4.0 "
                         f"(readable by DuckDB 1.4 and newer), or leave it empty for the newest format")
    return value or None


def storage_version(path: str) -> str | None:
    """The storage format of a DuckDB file as DuckDB reports it ('v1.4.0+' means readable by 1.4.0 and newer)."""
    con = duckdb.connect(path, read_only=True)
    try:
        row = con.execute("select tags['storage_version'] from duckdb_databases() where not internal "
                          "and database_name = current_database()").fetchone()
    finally:
        con.close()
    return row[0] if row else None


def create_database(path: str, version: str | None) -> None:
    """A new, empty DuckDB file in storage format `version` (None: the newest); the format stays with the file."""
    config = {"storage_compatibility_version": version} if version else {}
    duckdb.connect(path, config=config).close()


def copy_database(source: str, target: str, version: str | None) -> None:
    """Every schema, table, view, macro, sequence (with its next value), type and comment of `source` into a new
    file `target` written in format `version`: tables rewritten row group by row group, no free blocks."""
    create_database(target, version)
    con = duckdb.connect(target)
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")  # no bar on a terminal or in the run's log
        # the same memory cap as dbt's DuckDB (README "Memory and threads"); past it DuckDB spills to <target>.tmp
        con.execute(f"set memory_limit = {sql_literal(os.environ.get(MEMORY_LIMIT_ENV, '') or '5GB')}")
        con.execute(f"attach {sql_literal(source)} as copy_source (read_only)")
        con.execute(f"copy from database copy_source to {quote(current_catalog(con))}")
        con.execute("detach copy_source")
        con.execute("checkpoint")
    finally:
        con.close()


def current_catalog(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def storage_tag_for(version: str) -> str | None:
    """The tag storage_version() reports for a file created with `version` (several versions share one format)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = os.path.join(folder, "probe.duckdb")
        create_database(probe, version)
        return storage_version(probe)


def start_build_file(published: str, build: str, version: str | None) -> str:
    """The run's build file as a copy of the published warehouse (or a new file): what was done, in words.

    The copy is a copy-on-write clone where the file system can make one (see clone_or_copy), else a byte copy.
    With a storage version asked for and a published file in another format, the copy is a conversion (every
    table rewritten in the asked format, once: later runs copy the converted file as it is)."""
    if not os.path.exists(published):
        create_database(build, version)
        return f"new warehouse file {build} (storage {version or 'newest'})"
    if version:
        have, want = storage_version(published), storage_tag_for(version)
        if have != want:
            copy_database(published, build, version)
            return f"converted {published} from storage {have} to {want} into {build}"
    return started_from(published, build, clone_or_copy(published, build))


def started_from(published: str, build: str, how: str) -> str:
    """What starting the build file as a copy of the published one did, in words (the build step's log and metadata)."""
    return f"build file {build} starts from published {published}: {how}"


# The copy that starts a build file takes seconds on a file system without copy-on-write clones (ext4: about 1.7 s per
# GB), and a run spends seconds before its first step (Dagster's definitions and run plan, the export dates a
# `journey run` covers). `journey run` and `journey backfill` (orchestration/runner.py) start the copy as soon as
# they hold the run lock, beside that set-up, into `<build>.early`; ops/build_warehouse takes it (take_early_copy:
# waits for it, then renames it to the build file) instead of copying again. A run from the Dagster UI has none: it
# copies in the step, as before. A file left by a killed run is removed by the next run's step; a copy the run did
# not take (it failed before its first step) is removed when the run ends (discard_early_copy).
def early_copy_path(build: str | os.PathLike) -> str:
    return os.fspath(build) + ".early"


class EarlyCopy:
    """A copy of the published file into `<build>.early`, made by a thread of its own (clone_or_copy)."""

    def __init__(self, published: str, build: str) -> None:
        self.published, self.path = published, early_copy_path(build)
        self.how: str | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name="journey-early-copy", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            self.how = clone_or_copy(self.published, self.path)
        except BaseException as exc:  # noqa: BLE001 - said by take_early_copy, which then copies in the step
            self.error = exc

    def wait(self) -> None:
        self._thread.join()

    def remove(self) -> None:
        self.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


_EARLY_COPIES: dict[str, EarlyCopy] = {}
_EARLY_COPIES_LOCK = threading.Lock()


def start_early_copy(published: str | os.PathLike, build: str | os.PathLike) -> EarlyCopy | None:
    """Start copying the published file for the run's build file (none when there is no published file yet, or
    when a storage version is asked for: the step may convert rather than copy)."""
    published, build = os.path.realpath(published), os.path.realpath(build)
    try:
        version = requested_storage_version()
    except ValueError:  # the step says what is wrong with it
        return None
    if not os.path.exists(published) or version:
        return None
    with _EARLY_COPIES_LOCK:
        if build in _EARLY_COPIES:
            return None
        copy = _EARLY_COPIES[build] = EarlyCopy(published, build)
    return copy


def has_early_copy(build: str | os.PathLike) -> bool:
    with _EARLY_COPIES_LOCK:
        return os.path.realpath(build) in _EARLY_COPIES


def take_early_copy(published: str | os.PathLike, build: str | os.PathLike) -> str | None:
    """The build file from the copy started for it (renamed into place), and what was done, in words; None when none
    was started for this published file, or it failed (then nothing is left of it, and the step copies)."""
    published, build = os.path.realpath(published), os.path.realpath(build)
    with _EARLY_COPIES_LOCK:
        copy = _EARLY_COPIES.pop(build, None)
    if copy is None:
        return None
    copy.wait()
    if copy.error is not None or copy.published != published:
        copy.remove()
        return None
    os.replace(copy.path, build)
    return started_from(published, build, f"{copy.how} (started with the run)")


def discard_early_copy(build: str | os.PathLike) -> None:
    """Remove the copy started for `build` if the run did not take it."""
    with _EARLY_COPIES_LOCK:
        copy = _EARLY_COPIES.pop(os.path.realpath(build), None)
    if copy is not None:
        copy.remove()


# Uniqueness tests of an incremental dbt build may read only the keys it wrote (docs/journeys.md, "Data tests of an
# incremental build") when every row the build file holds was either checked before or written by that build. That
# holds for the first dbt build on a build file the run has just started from the published one; it does not for a
# dbt step run again on the same build file (Dagster's re-execution of a failed run), whose earlier attempt may have
# committed rows its tests then refused. The start of a build file leaves this marker; the dbt step takes it.
SCOPED_TESTS_ENV = "JOURNEY_SCOPED_UNIQUENESS_TESTS"


def fresh_build_marker(build: str | os.PathLike) -> str:
    return os.fspath(build) + ".fresh"


def take_fresh_build_marker(build: str | os.PathLike) -> str:
    """The value of SCOPED_TESTS_ENV for a dbt build of `build`: "1" when the run started the file and no dbt build
    has run on it since (the marker is removed here), else "0" (the uniqueness tests read whole tables)."""
    marker = fresh_build_marker(build)
    try:
        os.unlink(marker)
    except FileNotFoundError:
        return "0"
    return "1"


# Linux FICLONE ioctl (linux/fs.h: _IOW(0x94, 9, int)): the target shares the source's blocks until either is
# written (copy-on-write). Supported by btrfs, XFS (reflink=1, the default since xfsprogs 5.1), bcachefs, OCFS2,
# overlayfs over one of those, and NFS 4.2 / CIFS servers that can; ext4 and tmpfs answer EOPNOTSUPP.
FICLONE = 0x40049409


def clone_or_copy(source: str, target: str) -> str:
    """Make `target` a copy of `source`, as cheaply as the file system allows; what happened, in words.

    1. A copy-on-write clone (FICLONE): constant time whatever the size; blocks are copied only when the build
       writes them.
    2. Else os.copy_file_range: the copy stays in the kernel, and a file system may offload it (an NFS or CIFS
       server-side copy); on ext4 it is a byte copy at disk speed.
    3. Else (an old kernel, or file systems that refuse copy_file_range between them) a byte copy in Python.
    """
    size = os.path.getsize(source)
    started = time.perf_counter()
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
        except OSError as exc:
            no_clone = exc
        else:
            return f"cloned copy-on-write (FICLONE), {_gb(size)} shared, nothing copied"
        # a failed clone leaves the target empty: copy into it
        try:
            _copy_file_range(src.fileno(), dst.fileno(), size)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
            how = f"byte copy (copy_file_range unavailable: {exc.strerror})"
            dst.truncate(0)
            dst.seek(0)
            src.seek(0)
            shutil.copyfileobj(src, dst, 16 * 2**20)
        else:
            how = "copy_file_range"
    seconds = time.perf_counter() - started
    return f"copied {_gb(size)} in {seconds:.1f} s by {how}; no copy-on-write clone here (FICLONE: {no_clone.strerror})"


def _copy_file_range(src: int, dst: int, size: int) -> None:
    copied = 0
    while copied < size:
        n = os.copy_file_range(src, dst, min(size - copied, 2**30))
        if n == 0:  # nothing writes the published file, so this means it was cut short under us
            raise RuntimeError(f"the copy of the published file ended after {copied:,} of {size:,} bytes")
        copied += n


def _gb(size: int) -> str:
    return f"{size / 2**30:.2f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"


# ----------------------------------------------------------------------------------------------- compaction
# A DuckDB file never gives space back to the file system but for free blocks at its very end. Two kinds of dead
# space pile up over incremental nights (measured on 30,000 people: +24% after one night, +80% after four):
# - free blocks: a table that is rebuilt (dbt `table`, or a row group DuckDB vacuums) is written anew while the
#   old version still exists; the old blocks become free and are reused by later writes, not returned;
# - deleted rows still stored: an incremental model's delete+insert marks the old rows deleted, and DuckDB only
#   rewrites a row group without them when merging row groups saves one; otherwise they stay, in used blocks.
# When the dead share of the build file exceeds this setting at publish time, the build is rewritten compactly
# before the swap (see compact_if_fragmented).
COMPACT_FREE_SHARE_ENV = "JOURNEY_COMPACT_FREE_SHARE"
DEFAULT_COMPACT_FREE_SHARE = 0.10


def compact_free_share() -> float:
    """The dead share (FileSpace.free_share) above which a build file is compacted before it is published
    (0..1; 1: never, 0: every run)."""
    value = os.environ.get(COMPACT_FREE_SHARE_ENV, "").strip()
    if not value:
        return DEFAULT_COMPACT_FREE_SHARE
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{COMPACT_FREE_SHARE_ENV}={value!r} is not a share between 0 and 1: e.g. 0.1 compacts "
                         f"the warehouse when more than 10% of it is dead space (free blocks, deleted rows), "
                         f"1 never compacts, 0 at every run")
    return share


@dataclass(frozen=True)
class FileSpace:
    """How much of a DuckDB file a compaction could give back (after a checkpoint): free blocks, and the blocks
    that hold deleted rows.

    Free space is the file's size less pragma database_size's used blocks, not its free_blocks / total_blocks:
    DuckDB cuts free blocks off the end of the file but keeps counting them (a file of 50 blocks can report 73
    total and 23 free). Deleted rows still stored are estimated per table: its blocks (pragma storage_info) times
    the share of its stored rows (duckdb_tables().estimated_size) that count(*) no longer sees. Not counted: the
    looser packing of many small appends (a rewrite gains another few per cent there)."""

    used_blocks: int
    block_size: int
    file_bytes: int
    deleted_bytes: int = 0

    @property
    def used_bytes(self) -> int:
        return self.used_blocks * self.block_size

    @property
    def free_bytes(self) -> int:
        return max(0, self.file_bytes - self.used_bytes)

    @property
    def free_share(self) -> float:
        """The share of the file a compaction would give back (free blocks and deleted rows)."""
        dead = self.free_bytes + min(self.deleted_bytes, self.used_bytes)
        return min(1.0, dead / self.file_bytes) if self.file_bytes else 0.0

    def __str__(self) -> str:
        return (f"{_gb(self.file_bytes)} file, {_gb(self.free_bytes)} in free blocks and about "
                f"{_gb(self.deleted_bytes)} of deleted rows ({self.free_share:.1%} dead)")


def file_space(con: duckdb.DuckDBPyConnection, path: str) -> FileSpace:
    """The space of the database `con` has open at `path` (checkpoint first: free blocks are counted then)."""
    used, block = con.execute("select used_blocks, block_size from pragma_database_size() "
                              "where database_name = current_database()").fetchone()
    deleted = 0.0
    tables = con.execute("select schema_name, table_name, estimated_size from duckdb_tables() "
                         "where database_name = current_database() and not temporary").fetchall()
    for schema, table, stored in tables:
        name = f"{quote(schema)}.{quote(table)}"
        if not stored or (live := con.execute(f"select count(*) from {name}").fetchone()[0]) >= stored:
            continue
        # the table's blocks: each persistent segment's own and the additional ones it spills into (one pass)
        blocks = con.execute(
            "select count(distinct b) from (select case when persistent and block_id >= 0 then [block_id] else [] "
            "end || coalesce(additional_block_ids, []) as ids from pragma_storage_info(?)) as s, unnest(s.ids) as t(b)",
            [name]).fetchone()[0]
        deleted += blocks * block * (stored - live) / stored
    return FileSpace(int(used), int(block), os.path.getsize(path), int(deleted))


def compact_path(path: str) -> str:
    """The temporary file a compaction of `path` writes beside it (removed by the next run if left behind)."""
    return path + ".compact"


@dataclass(frozen=True)
class Compaction:
    """What the publish step did about free blocks (str(): in words, for the run's log)."""

    compacted: bool
    before: FileSpace
    after_bytes: int
    seconds: float
    threshold: float
    error: str | None = None
    cpu_seconds: float = 0.0  # of this process (DuckDB's threads): the rewrite is CPU-bound

    def __str__(self) -> str:
        if self.error:
            return (f"NOT compacted, compaction failed ({self.error}): {self.before}; the build is published as it "
                    f"is, and the next run tries again")
        if not self.compacted:
            return f"not compacted: {self.before} (compacts above {self.threshold:.0%})"
        return (f"compacted: {self.before} (above {self.threshold:.0%}); rewritten to {_gb(self.after_bytes)} "
                f"in {self.seconds:.1f} s ({self.cpu_seconds:.1f} CPU s)")


def compact_database(path: str, failpoint=lambda name: None) -> int:
    """Rewrite the (closed, checkpointed) DuckDB file `path` without free blocks; its new size in bytes.

    COPY FROM DATABASE into `<path>.compact` in the same storage format (schemas, tables, views, macros, types,
    sequences with their next values, comments), checkpointed and closed, then renamed over `path` in one step.
    A kill before the rename leaves `path` as it was and a stray `.compact` file (the next run removes it)."""
    tmp = compact_path(path)
    for leftover in (tmp, tmp + ".wal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    tag = storage_version(path)
    version = tag.rstrip("+") if tag else None  # 'v1.4.0+' -> v1.4.0: the file keeps its format
    try:
        copy_database(path, tmp, version)
        if storage_version(tmp) != tag:
            raise RuntimeError(f"compaction of {path} would change its storage format from {tag} to "
                               f"{storage_version(tmp)}; it was not compacted")
        if os.path.exists(tmp + ".wal"):
            raise RuntimeError(f"{tmp}.wal still exists after a checkpoint; the compacted file was not used")
        failpoint("compact_before_swap")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)


def compact_if_fragmented(path: str, threshold: float, failpoint=lambda name: None) -> Compaction:
    """Checkpoint the DuckDB file `path` and compact it when its free-block share is above `threshold`.

    Compaction only saves space: when it fails (e.g. the disk is full), `path` is left as it was and the result
    says why, so that a checked build is still published."""
    con = duckdb.connect(path)
    try:
        con.execute("checkpoint")
        before = file_space(con, path)
    finally:
        con.close()
    if before.free_share <= threshold:
        return Compaction(False, before, before.file_bytes, 0.0, threshold)
    started, cpu = time.perf_counter(), _cpu_seconds()
    try:
        after = compact_database(path, failpoint)
    except (duckdb.Error, OSError, RuntimeError) as exc:
        return Compaction(False, before, os.path.getsize(path), time.perf_counter() - started, threshold,
                          error=f"{type(exc).__name__}: {exc}", cpu_seconds=_cpu_seconds() - cpu)
    return Compaction(True, before, after, time.perf_counter() - started, threshold, cpu_seconds=_cpu_seconds() - cpu)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
