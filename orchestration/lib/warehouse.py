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

import os
import re
import shutil
import tempfile

import duckdb

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
        cols = ", ".join(f"{quote(c)} VARCHAR" for c in source.columns)
        con.execute(f"create table if not exists raw.{source.name} ({cols}, {LINEAGE_DDL})")
        con.execute(f"create table if not exists quarantine.{source.name} ({QUARANTINE_COLUMNS})")
    con.execute(
        """
        create table if not exists ops.loaded_files (
            file_sha256 VARCHAR, source VARCHAR, file_path VARCHAR, export_date DATE, size_bytes BIGINT,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, status VARCHAR,
            load_id VARCHAR, loaded_at TIMESTAMP, detail VARCHAR
        )
        """
    )
    con.execute(
        """
        create table if not exists ops.loads (
            load_id VARCHAR, source VARCHAR, run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
            files_seen BIGINT, files_loaded BIGINT, files_skipped BIGINT,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT
        )
        """
    )
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
    """Open the warehouse with the settings every writer uses (UTC session time zone)."""
    con = duckdb.connect(path, read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    return con


# The DuckDB storage format of a new warehouse file (README "Connecting a BI tool"): empty = this DuckDB's newest.
# BI drivers often bundle an older DuckDB, which cannot open a newer format: v1.4.0 is readable by DuckDB 1.4+.
STORAGE_VERSION_ENV = "JOURNEY_STORAGE_VERSION"


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
    """Every schema, table, view and macro of `source` into a new file `target` written in format `version`."""
    create_database(target, version)
    con = duckdb.connect(target)
    try:
        con.execute("set TimeZone = 'UTC'")
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

    With a storage version asked for and a published file in another format, the copy is a conversion (every
    table rewritten in the asked format, once: later runs copy the converted file byte for byte)."""
    if not os.path.exists(published):
        create_database(build, version)
        return f"new warehouse file {build} (storage {version or 'newest'})"
    if version:
        have, want = storage_version(published), storage_tag_for(version)
        if have != want:
            copy_database(published, build, version)
            return f"converted {published} from storage {have} to {want} into {build}"
    shutil.copyfile(published, build)
    return f"build file {build} starts from published {published}"
