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

import duckdb

from orchestration.lib.contract import LINEAGE_COLUMNS, SOURCES

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
