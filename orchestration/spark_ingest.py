"""Ingestion on Spark: the night's landing files read by Spark's executors, with the DuckDB pipeline's own code.

The rules, the books and the quarantine are orchestration/lib/ingest.py's, not written again for Spark: each
executor task runs `load_files` on a group of files in a DuckDB of its own (in memory) and writes the group's raw
and quarantined rows as Parquet into the run's staging folder; only the group's books (a few rows per file) come
back to the driver. The driver keeps what needs every file of a source at once:

1. **Triage**, against the books' registry (ops.loaded_files): which files are new, which are copies of a loaded
   file (by SHA-256, computed by the executors) and which are empty. One load id per source and night.
2. **Groups**: the new files of every source, in tasks of about GROUP_BYTES (at least one task per core while
   there are files), all sources in one Spark job.
3. **The books**: the tasks' registry rows, field issues and per-file counts go into the books' build file; the
   columns a file added are noted once, by the first file that has them (ops.schema_changes), and added to the
   books' raw table (the list of a source's columns); ops.loads gets one row per source with the night's totals.
   A file that cannot be loaded at all (a required column missing, ...) fails the whole source's batch, as on
   DuckDB: nothing of that night is kept.

The rows stay in `<spark warehouse>/staging/<raw|quarantine>/<source>/<load id>/` until the raw gates (their suites
counted by Spark SQL over those Parquet files: the DuckDB gates' SQL, translated) have passed and the `ship` step
appends them to Spark's tables. The executors must be able to read the landing folder and write the staging folder:
on a cluster, a shared file system.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

STAGING = "staging"
GROUP_BYTES = 128 << 20  # file bytes per executor task (a task's DuckDB holds its group's rows)
BOOKS_TABLES = ("loaded_files", "field_issues")


def dates_argument(dates: set[date] | None) -> str:
    """`dates` as the `read` step's command line carries it: "all" (None: every date), or ISO dates joined by commas."""
    return "all" if dates is None else ",".join(sorted(d.isoformat() for d in dates))


def parse_dates_argument(argument: str) -> set[date] | None:
    """The dates of a `read` step's argument (dates_argument's inverse)."""
    return None if argument == "all" else {date.fromisoformat(d) for d in argument.split(",") if d}


def staging_folder(spark_warehouse: Path, schema: str, source: str, load_id: str) -> Path:
    """Where the tasks leave the rows of one source's load (`schema`: raw or quarantine)."""
    return spark_warehouse / STAGING / schema / source / load_id


def staged_files(spark_warehouse: Path, schema: str, source: str, load_id: str = "*") -> list[Path]:
    """The Parquet files staged for one load of a source (`*`: for each of its loads in the staging folder)."""
    return sorted((spark_warehouse / STAGING / schema / source).glob(f"{load_id}/*.parquet"))


def clear_staging(spark_warehouse: Path) -> None:
    """A run's staging is its own: what an earlier, stopped run left is discarded (its files load again)."""
    shutil.rmtree(spark_warehouse / STAGING, ignore_errors=True)


def groups(sizes: list[int], cores: int, group_bytes: int = GROUP_BYTES) -> list[list[int]]:
    """The indexes of files, in groups of about `group_bytes` (largest first into the lightest group), at least
    `cores` groups while there are files enough; each group in file order."""
    if not sizes:
        return []
    count = min(len(sizes), max(cores, math.ceil(sum(sizes) / group_bytes)))
    bins: list[list[int]] = [[] for _ in range(count)]
    weight = [0] * count
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        lightest = min(range(count), key=lambda b: (weight[b], b))
        bins[lightest].append(i)
        weight[lightest] += sizes[i]
    return [sorted(b) for b in bins if b]


# --- on an executor ----------------------------------------------------------------------------------------------

def read_group(task: dict[str, Any]) -> dict[str, Any]:
    """One executor task: `load_files` on a group of one source's new files, in a DuckDB in memory; the rows as
    Parquet in the staging folder, the books returned. An IngestError comes back as {"error": message}."""
    from orchestration.lib.ingest import (
        FileReport,
        IngestError,
        NewFile,
        SourceReport,
        file_kind,
        load_files,
        sql_str,
    )
    from orchestration.lib.warehouse import connect, ensure_tables
    from rules.contract import SOURCES

    source = SOURCES[task["source"]]
    load_id, loaded_at = task["load_id"], datetime.fromisoformat(task["loaded_at"])
    con = connect(":memory:")
    try:
        ensure_tables(con)
        if task["suppressions"]:
            con.executemany(f"insert into ops.suppressions values ({', '.join('?' * len(task['suppressions'][0]))})",
                            task["suppressions"])
        report = SourceReport(source.name, load_id)
        new = []
        for n, f in enumerate(task["files"]):
            path = Path(f["path"])
            entry = NewFile(n, path, FileReport(f["rel"], date.fromisoformat(f["export_date"]), f["sha256"], "loaded"),
                            f["size"], file_kind(path), str(path))
            report.files.append(entry.report)
            new.append(entry)
        try:
            load_files(con, source, report, new, new, load_id, loaded_at, task["run_id"], task["privacy_key"])
        except IngestError as exc:
            return {"source": source.name, "error": str(exc)}
        for schema in ("raw", "quarantine"):
            folder = Path(task["staging"]) / schema / source.name / load_id
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy {schema}.{source.name} to {sql_str(str(folder / (task['part'] + '.parquet')))} (format parquet)")
        books = {}
        for table in BOOKS_TABLES:
            cursor = con.execute(f"select * from ops.{table}")
            books[table] = ([d[0] for d in cursor.description], cursor.fetchall())
        return {"source": source.name, "error": None, "books": books,
                "reports": [asdict(f.report) for f in new]}
    finally:
        con.close()


# --- on the driver -----------------------------------------------------------------------------------------------

def ingest(spark, build: Path, landing: Path, spark_warehouse: Path, dates: set[date] | None, run_id: str,
           privacy_key: str | None) -> dict[str, Any]:
    """Load the new files of `dates` (None: every date) of every source: read by the executors (the rows into
    staging), the books into `build`. Returns {"error": "[source] message"} when a source's batch cannot be
    loaded (nothing is kept then), else the staged Parquet files per source."""
    from orchestration.lib.ingest import SourceReport, discover_files, new_load_id, sha256_of, triage
    from orchestration.lib.warehouse import connect, ensure_tables
    from rules.contract import SOURCES

    clear_staging(spark_warehouse)
    context = spark.sparkContext
    cores = context.defaultParallelism
    found = {source: discover_files(landing, source, dates) for source in SOURCES}
    paths = [str(path) for source in SOURCES for _, path in found[source]]
    hashes = context.parallelize(paths, max(1, min(len(paths), cores))).map(
        lambda p: sha256_of(Path(p))).collect() if paths else []
    digest_of = dict(zip(paths, hashes, strict=True))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    con = connect(str(build))
    try:
        ensure_tables(con)
        suppressions = con.execute("select * from ops.suppressions").fetchall()
        plans, tasks = {}, []
        for source in SOURCES:
            report = SourceReport(source, new_load_id(source))
            digests = [digest_of[str(path)] for _, path in found[source]]
            new, register = triage(con, found[source], digests, landing, report)
            plans[source] = (report, new, register)
            for part, group in enumerate(groups([f.size for f in new], cores, GROUP_BYTES)):
                tasks.append({
                    "source": source, "load_id": report.load_id, "loaded_at": loaded_at.isoformat(),
                    "run_id": run_id, "privacy_key": privacy_key, "suppressions": suppressions,
                    "staging": str(spark_warehouse / STAGING), "part": f"part-{part:05d}",
                    "files": [{"path": str(new[i].path), "rel": new[i].report.path,
                               "export_date": new[i].report.export_date.isoformat(), "sha256": new[i].report.sha256,
                               "size": new[i].size} for i in group],
                })
        results = context.parallelize(tasks, max(1, len(tasks))).map(read_group).collect() if tasks else []
        errors = [r for r in results if r["error"]]
        if errors:
            clear_staging(spark_warehouse)
            first = min(errors, key=lambda r: list(SOURCES).index(r["source"]))
            return {"error": f"[{first['source']}] {first['error']}"}
        for source in SOURCES:
            report, new, register = plans[source]
            _write_books(con, source, report, new, register, [r for r in results if r["source"] == source],
                        loaded_at, run_id)
    finally:
        con.close()
    return {"error": None, "staged": {source: len(staged_files(spark_warehouse, "raw", source, plans[source][0].load_id))
                                      for source in SOURCES}}


def _write_books(con: duckdb.DuckDBPyConnection, source_name: str, report, new, register, results: list[dict],
                loaded_at: datetime, run_id: str) -> None:
    """One source's books from its tasks, in one transaction: the per-file counts, the registry (the tasks' rows
    for the files they read, the driver's for the copies and empty files it set aside), field issues, the columns
    the night added (noted by the first file that has them), and the load's totals."""
    from orchestration.lib.ingest import record_load, register_files
    from orchestration.lib.warehouse import quote
    from rules.contract import SOURCES

    source = SOURCES[source_name]
    by_path = {r["path"]: r for result in results for r in result["reports"]}
    for f in new:
        done = by_path[f.report.path]
        for name in ("status", "rows_read", "rows_loaded", "rows_quarantined", "rows_suppressed", "reasons"):
            setattr(f.report, name, done[name])
    existing = {r[0] for r in con.execute(f"select column_name from (describe raw.{source.name})").fetchall()}
    con.execute("begin transaction")
    try:
        for f in new:  # in file order: the first file with a new column notes it
            for column in by_path[f.report.path]["new_columns"]:
                if column not in existing:
                    con.execute(f"alter table raw.{source.name} add column {quote(column)} varchar")
                    con.execute("insert into ops.schema_changes values (?, ?, ?, 'added_column', ?, ?)",
                                [source.name, f.report.path, column, report.load_id, loaded_at])
                    f.report.new_columns.append(column)
                    existing.add(column)
        for result in results:
            for table in BOOKS_TABLES:
                columns, rows = result["books"][table]
                if rows:
                    con.executemany(f"insert into ops.{table} ({', '.join(quote(c) for c in columns)}) "
                                    f"values ({', '.join('?' * len(columns))})", rows)
        read = {f.report.path for f in new}
        register_files(con, source, [f for f in register if f.report.path not in read], report.load_id, loaded_at)
        record_load(con, report, run_id, loaded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
