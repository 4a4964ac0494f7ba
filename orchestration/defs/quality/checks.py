"""Great Expectations suites run as blocking Dagster asset checks on the raw sources and the marts.

Raw checks validate the rows of the *latest load* of a source (raw.<source> rows whose `_load_id` is the newest
`ops.loads` row of that source), i.e. what this run just added; older rows passed their own gate already. Their
rules are counted by DuckDB where the rows are (expectations.raw_profile: one profile row per check, plus a few
sample rows per failed rule), and GX judges the counts. Mart checks validate the whole mart: dim_customers row
by row (expectations.marts, in chunks), the other marts (fct_touchpoints included) through integrity suites whose
violation counts DuckDB aggregates (expectations.mart_integrity, the same way). A failed check has severity ERROR
and is blocking, so nothing downstream of the asset runs and the last published warehouse stays as it was.

Each check opens the DuckDB file read-only at the path in an environment variable (JOURNEY_BUILD_WAREHOUSE by
default), only while it reads (a profile, samples, a chunk of dim_customers), so writers elsewhere are blocked as
briefly as possible; a lock held by a writer is waited for. Reports (GX Data Docs pages, JSON summaries,
index.html) go to JOURNEY_QUALITY_REPORTS, or `quality_reports/` beside the warehouse file.

Great Expectations is imported when a check runs, not when the definitions load (it takes seconds).
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation of a check at definition time.
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from orchestration.lib.contract import SOURCES
from orchestration.lib.warehouse import connect, quote

if TYPE_CHECKING:
    import pandas as pd

    from expectations.runner import QualityResult

WAREHOUSE_ENV = "JOURNEY_BUILD_WAREHOUSE"
REPORTS_ENV = "JOURNEY_QUALITY_REPORTS"
# Rows per pandas chunk of dim_customers (validated row by row): every key stays in one chunk.
DEFAULT_CHUNK_ROWS = 500_000
# How long a check waits for a writer's lock on the warehouse file before giving up.
LOCK_WAIT_SECONDS = 300.0
MAX_FAILURES_IN_DESCRIPTION = 3


@dataclass(frozen=True)
class Load:
    """One ingestion of a source, as ops.loads records it."""

    load_id: str
    started_at: datetime | None
    rows_loaded: int | None


def warehouse_path(env_var: str = WAREHOUSE_ENV) -> Path:
    """The warehouse file a check reads; a clear error when the variable is unset or the file is missing."""
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise RuntimeError(f"{env_var} is not set: the quality checks need the path of the DuckDB warehouse to "
                           f"validate (set it to the build file, e.g. warehouse/journey.duckdb)")
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"{env_var}={value}: no such warehouse file; run the ingestion assets first")
    return path


def reports_folder(warehouse: Path, env_var: str = REPORTS_ENV) -> Path:
    value = os.environ.get(env_var, "").strip()
    return Path(value) if value else warehouse.parent / "quality_reports"


def open_read_only(path: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open read-only, waiting while another process holds the write lock (DuckDB allows one writer)."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            return connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def latest_load(con: duckdb.DuckDBPyConnection, source: str) -> Load | None:
    """The newest ops.loads row of `source` (by start time, then load id), or None if it was never loaded."""
    row = con.execute(
        "select load_id, started_at, rows_loaded from ops.loads where source = ? "
        "order by started_at desc nulls last, load_id desc limit 1",
        [source],
    ).fetchone()
    return Load(str(row[0]), row[1], row[2]) if row else None


def chunk_queries(select: str, key_sql: str, rows: int, chunk_rows: int) -> list[str]:
    """Split `select` (which ends in a where clause) into chunks by a hash of the key: a key never spans two."""
    chunks = max(1, math.ceil(rows / max(1, chunk_rows)))
    if chunks == 1:
        return [select]
    return [f"{select} and hash({key_sql}) % {chunks} = {i}" for i in range(chunks)]


def read_chunks(path: Path, queries: Sequence[str], params: Sequence[Any] = ()) -> Iterator["pd.DataFrame"]:
    """Each chunk on its own short read-only connection, closed before the chunk is validated."""
    for sql in queries:
        con = open_read_only(path)
        try:
            frame = con.execute(sql, list(params)).df()
        finally:
            con.close()
        yield frame


def result_metadata(result: "QualityResult", report: Path | None, **extra: Any) -> dict[str, Any]:
    """What the Dagster UI shows for a check: counts, each failed expectation with observed value and samples."""
    metadata: dict[str, Any] = {
        "rows_validated": MetadataValue.int(result.rows),
        "expectations_evaluated": MetadataValue.int(result.evaluated),
        "expectations_failed": MetadataValue.int(len(result.failures)),
        "failed_expectations": MetadataValue.json([f.as_dict() for f in result.failures]),
        "summary": MetadataValue.md(result.markdown()),
    }
    if report is not None:
        from expectations.runner import page_name

        metadata["quality_report"] = MetadataValue.path(str(report.parent / page_name(result.suite_name)))
        metadata["quality_reports_index"] = MetadataValue.path(str(report))
    metadata.update(extra)
    return metadata


def describe_result(result: "QualityResult", what: str) -> str:
    """One line for the check result: what failed and the observed values (the summary and logs show it)."""
    if result.success:
        return f"{what}: {result.evaluated} expectations held on {result.rows:,} rows"
    parts = [f"{f.rule} on {f.column or '-'}: {f.observed}" for f in result.failures[:MAX_FAILURES_IN_DESCRIPTION]]
    more = len(result.failures) - MAX_FAILURES_IN_DESCRIPTION
    return f"{what} failed: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _report(
    context: AssetCheckExecutionContext, path: Path, result: "QualityResult", what: str, **extra_metadata: Any,
) -> AssetCheckResult:
    """Write the result's Data Docs page, log it, and return it as a blocking check result."""
    from expectations.runner import build_data_docs

    report = None
    try:
        report = build_data_docs([result], reports_folder(path))
    except OSError:  # a report we cannot write must not hide the verdict
        context.log.warning("could not write the quality report for %s", result.suite_name, exc_info=True)
    description = describe_result(result, what)
    (context.log.info if result.success else context.log.error)(description)
    return AssetCheckResult(
        passed=result.success,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata=result_metadata(result, report, **extra_metadata),
    )


def _validate_and_report(
    context: AssetCheckExecutionContext, path: Path, suite: Any, chunks: Iterator["pd.DataFrame"], what: str,
    chunk_count: int,
) -> AssetCheckResult:
    from expectations.runner import validate_chunks

    return _report(context, path, validate_chunks(chunks, suite), what, chunks=MetadataValue.int(chunk_count))


def _passed_without_rows(note: str, **extra: Any) -> AssetCheckResult:
    return AssetCheckResult(
        passed=True, severity=AssetCheckSeverity.ERROR, description=note,
        metadata={"rows_validated": MetadataValue.int(0), "note": MetadataValue.text(note), **extra},
    )


def check_raw_source(
    context: AssetCheckExecutionContext, source: str, warehouse_path_env: str = WAREHOUSE_ENV,
) -> AssetCheckResult:
    """Validate the rows of the latest load of `source`: the rules' counts aggregated in DuckDB (one profile row,
    see expectations.raw_profile), judged by GX; a failed rule reads a few sample rows. Each read is a short
    read-only connection."""
    from expectations.raw import raw_spec
    from expectations.raw_profile import validate_raw

    path = warehouse_path(warehouse_path_env)
    table = f"raw.{quote(source)}"
    con = open_read_only(path)
    try:
        load = latest_load(con, source)
        rows = 0 if load is None else con.execute(
            f"select count(*) from {table} where _load_id = ?", [load.load_id]).fetchone()[0]
        columns = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    finally:
        con.close()
    if load is None:
        return _passed_without_rows(f"no load of {source} recorded in ops.loads yet: nothing to validate")
    load_meta = {"load_id": MetadataValue.text(load.load_id)}
    if rows == 0:
        return _passed_without_rows(f"the latest load of {source} ({load.load_id}) added no rows: nothing new "
                                    f"to validate", **load_meta)
    result = validate_raw(lambda: open_read_only(path), raw_spec(source),
                          f"(select * from {table} where _load_id = $load_id)", columns, {"load_id": load.load_id})
    return _report(context, path, result, f"raw.{source} load {load.load_id}",
                   profile=MetadataValue.text("aggregated in DuckDB"), **load_meta)


def check_mart(
    context: AssetCheckExecutionContext, table: str, warehouse_path_env: str = WAREHOUSE_ENV,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> AssetCheckResult:
    """Validate a mart: dim_customers row by row (in chunks of its key), every other mart through its integrity
    suite (violation counts aggregated in DuckDB, see expectations.mart_integrity)."""
    from expectations import marts

    if table != marts.CUSTOMERS_TABLE:
        return check_mart_integrity(context, table, warehouse_path_env)
    path = warehouse_path(warehouse_path_env)
    con = open_read_only(path)
    try:
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        columns = {r[0] for r in con.execute(f"describe {table}").fetchall()}
    finally:
        con.close()
    key, suite = marts.CUSTOMER_KEY, marts.dim_customers_suite()
    wanted = [c for c in marts.CUSTOMER_COLUMNS if c in columns]
    select = f"select {', '.join(quote(c) for c in wanted) or '*'} from {table} where true"
    # Without the key column there is nothing to chunk by; the suite reports the missing column.
    queries = chunk_queries(select, quote(key), rows, chunk_rows) if key in columns else [select]
    return _validate_and_report(context, path, suite, read_chunks(path, queries), table,
                                chunk_count=len(queries))


def check_mart_integrity(
    context: AssetCheckExecutionContext, table: str, warehouse_path_env: str = WAREHOUSE_ENV,
) -> AssetCheckResult:
    """Validate a mart's integrity suite: one profile row of violation counts computed in DuckDB, then (only when
    a rule fails) a few sample rows per failed rule. Each read is a short read-only connection."""
    from expectations.mart_integrity import validate_mart

    path = warehouse_path(warehouse_path_env)
    result = validate_mart(lambda: open_read_only(path), table)
    return _report(context, path, result, table, profile=MetadataValue.text("aggregated in DuckDB"))


def raw_source_checks(
    warehouse_path_env: str = WAREHOUSE_ENV,
    sources: Sequence[str] | None = None,
    pool: str | None = None,
) -> list[AssetChecksDefinition]:
    """One blocking check `raw_<source>_quality` per raw source, on AssetKey(["raw", source])."""
    return [_raw_check(source, warehouse_path_env, pool) for source in (sources or list(SOURCES))]


def _raw_check(source: str, env: str, pool: str | None) -> AssetChecksDefinition:
    if source not in SOURCES:
        raise KeyError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")

    @asset_check(
        asset=AssetKey(["raw", source]),
        name=f"raw_{source}_quality",
        blocking=True,
        description=f"Great Expectations suite raw.{source} on the rows of the latest load of {source} (counted in "
                    f"DuckDB): columns, keys, timestamps, enums, amounts, emails and phones at the rates in "
                    f"expectations/thresholds.py.",
        pool=pool,
        metadata={"suite": f"raw.{source}", "warehouse_env": env},
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return check_raw_source(context, source, env)

    return _check


# Every mart the gate covers: (table, asset name, marts the check also reads besides its own). dim_customers is
# validated row by row (expectations.marts); the others by their integrity suites (expectations.mart_integrity).
# A check that reads dim_customers waits for it.
MART_CHECKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("marts.fct_touchpoints", "fct_touchpoints", ("dim_customers",)),
    ("marts.dim_customers", "dim_customers", ()),
    ("marts.customer_identifiers", "customer_identifiers", ("dim_customers",)),
    ("marts.fct_sessions", "fct_sessions", ("dim_customers",)),
    ("marts.fct_conversion_paths", "fct_conversion_paths", ()),
    ("marts.fct_attribution", "fct_attribution", ()),
    ("marts.customer_360", "customer_360", ("dim_customers",)),
    ("marts.fct_customer_journeys", "fct_customer_journeys", ("dim_customers",)),
)

MART_CHECK_DESCRIPTIONS = {
    "fct_touchpoints": "one row per touchpoint, plausible timestamps, known sources and customers",
    "dim_customers": "one row per customer id",
    "customer_identifiers": "one row per (identifier_type, identifier_value), known customers, and no golden "
                            "record of dim_customers without an identifier",
    "fct_sessions": "one row per session, known customers, sessions ending no earlier than they start",
    "fct_conversion_paths": "one row per path_id",
    "fct_attribution": "one row per (conversion_id, model, channel), known models, credits in [0, 1] summing to 1 "
                       "per conversion and model, revenue credits summing to the conversion value",
    "customer_360": "one row per customer, every one in dim_customers",
    "fct_customer_journeys": "one row per customer, every one in dim_customers, stage timestamps in the orders "
                             "the model guarantees",
}


def mart_checks(
    warehouse_path_env: str = WAREHOUSE_ENV,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    pool: str | None = None,
    touchpoints_wait_for_customers: bool = True,
    marts: Sequence[str] | None = None,
) -> list[AssetChecksDefinition]:
    """Blocking checks `<mart>_quality` on every mart of MART_CHECKS (or the asset names in `marts`), run before
    publishing: a failed one stops the publish step, so the published warehouse stays as it was.

    A check that reads dim_customers (every customer_id must be known) also waits for that asset; pass
    touchpoints_wait_for_customers=False if dim_customers is downstream of fct_touchpoints.
    """
    known = {name for _, name, _ in MART_CHECKS}
    unknown = sorted(set(marts or ()) - known)
    if unknown:
        raise KeyError(f"no mart check for {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    definitions = []
    for table, name, reads in MART_CHECKS:
        if marts is not None and name not in marts:
            continue
        if name == "fct_touchpoints" and not touchpoints_wait_for_customers:
            reads = ()
        deps = [AssetKey(["marts", other]) for other in reads]
        definitions.append(_mart_check(table, name, deps, warehouse_path_env, chunk_rows, pool))
    return definitions


def _mart_check(table: str, name: str, deps: list[AssetKey], env: str, chunk_rows: int,
                pool: str | None) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(["marts", name]),
        name=f"{name}_quality",
        blocking=True,
        additional_deps=deps or None,
        description=f"Great Expectations suite {table}: {MART_CHECK_DESCRIPTIONS[name]}.",
        pool=pool,
        metadata={"suite": table, "warehouse_env": env},
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return check_mart(context, table, env, chunk_rows)

    return _check
