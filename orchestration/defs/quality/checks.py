"""Great Expectations suites run as blocking Dagster asset checks on the raw sources and the marts.

Raw checks validate the rows of the *latest load* of a source (raw.<source> rows whose `_load_id` is the newest
`ops.loads` row of that source), i.e. what this run just added; older rows passed their own gate already. Their
rules are counted by DuckDB where the rows are (expectations.raw_profile: one profile row per check, plus a few
sample rows per failed rule), and GX judges the counts. Mart checks validate the whole mart through integrity
suites whose violation counts DuckDB aggregates (expectations.mart_integrity, the same way). A failed check has severity ERROR
and is blocking, so nothing downstream of the asset runs and the last published warehouse stays as it was.

Each check opens the run's build file (the `warehouse` resource) read-only, only while it reads (a profile,
samples), so writers elsewhere are blocked as briefly as possible; a lock held by a writer
is waited for. Reports (GX Data Docs pages, JSON summaries, index.html) go to the resource's reports folder.

Great Expectations is imported when a check runs, not when the definitions load (it takes seconds): the run's
first step starts importing it in the background (import_in_background), while it copies the published file, and
a check waits for that import to end before it imports anything itself.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation of a check at definition time.
import threading
import time
from collections.abc import Sequence
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

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.background import start_imports, wait_for_imports
from orchestration.lib.warehouse import connect, quote
from rules.contract import SOURCES

if TYPE_CHECKING:
    from expectations.validation import QualityResult

# How long a check waits for a writer's lock on the warehouse file before giving up.
LOCK_WAIT_SECONDS = 300.0
MAX_FAILURES_IN_DESCRIPTION = 3


GATES_IMPORTS = "great-expectations"


def import_in_background() -> threading.Thread:
    """Import Great Expectations and the suites (2-3 s) in a thread (orchestration/lib/background.py). The build step
    starts it: copying the published file leaves the process waiting on the disk, and the first gate then finds the
    modules imported."""
    return start_imports(GATES_IMPORTS, ["expectations.mart_integrity", "expectations.raw", "expectations.raw_profile"],
                         first=["sqlalchemy.orm"])  # in use by Dagster meanwhile (orchestration/lib/background.py)


@dataclass(frozen=True)
class Load:
    """One ingestion of a source, as ops.loads records it."""

    load_id: str
    started_at: datetime | None
    rows_loaded: int | None


def existing(path: Path) -> Path:
    """The warehouse file a check reads; a clear error when it is missing."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such warehouse file to check; run the ingestion assets first")
    return path


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
        from expectations.validation import page_name

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
    context: AssetCheckExecutionContext, reports: Path, result: "QualityResult", what: str, **extra_metadata: Any,
) -> AssetCheckResult:
    """Write the result's Data Docs page, log it, and return it as a blocking check result."""
    from expectations.validation import build_data_docs

    report = None
    try:
        report = build_data_docs([result], reports)
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


def _passed_without_rows(note: str, **extra: Any) -> AssetCheckResult:
    return AssetCheckResult(
        passed=True, severity=AssetCheckSeverity.ERROR, description=note,
        metadata={"rows_validated": MetadataValue.int(0), "note": MetadataValue.text(note), **extra},
    )


def check_raw_source(context: AssetCheckExecutionContext, source: str, path: Path, reports: Path,
                     table: str | None = None) -> AssetCheckResult:
    """Validate the rows of the latest load of `source` (in `table`, else raw.<source>): the rules' counts
    aggregated in DuckDB (one profile row, see expectations.raw_profile), judged by GX; a failed rule reads a few
    sample rows. Each read is a short read-only connection."""
    wait_for_imports(GATES_IMPORTS)
    from expectations.raw import raw_spec
    from expectations.raw_profile import validate_raw

    path = existing(path)
    table = table or f"raw.{quote(source)}"
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
    return _report(context, reports, result, f"raw.{source} load {load.load_id}",
                   profile=MetadataValue.text("aggregated in DuckDB"), **load_meta)


def check_mart(context: AssetCheckExecutionContext, table: str, path: Path, reports: Path) -> AssetCheckResult:
    """Validate a mart's integrity suite: one profile row of violation counts computed in DuckDB, then (only when
    a rule fails) a few sample rows per failed rule (expectations.mart_integrity). Each read is a short read-only
    connection."""
    wait_for_imports(GATES_IMPORTS)
    from expectations.mart_integrity import validate_mart

    path = existing(path)
    result = validate_mart(lambda: open_read_only(path), table)
    return _report(context, reports, result, table, profile=MetadataValue.text("aggregated in DuckDB"))


def raw_source_checks(sources: Sequence[str] | None = None, pool: str | None = None) -> list[AssetChecksDefinition]:
    """One blocking check `raw_<source>_quality` per raw source, on AssetKey(["raw", source]); each reads the run's
    build file named by the `warehouse` resource."""
    return [_raw_check(source, pool) for source in (sources or list(SOURCES))]


def _raw_check(source: str, pool: str | None) -> AssetChecksDefinition:
    if source not in SOURCES:
        raise KeyError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")

    @asset_check(
        asset=AssetKey(["raw", source]),
        name=f"raw_{source}_quality",
        blocking=True,
        description=f"Great Expectations suite raw.{source} on the rows of the latest load of {source} (counted in "
                    f"DuckDB): columns, keys, timestamps, enums, amounts, emails and phones at the rates in "
                    f"rules/thresholds.py.",
        pool=pool,
        metadata={"suite": f"raw.{source}"},
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        return check_raw_source(context, source, warehouse.build, warehouse.reports)

    return _check


# Every mart the gate covers: (table, asset name, marts the check also reads besides its own), each by its integrity
# suite (expectations.mart_integrity). A check that reads dim_customers waits for it.
MART_CHECKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("marts.fct_touchpoints", "fct_touchpoints", ("dim_customers",)),
    ("marts.dim_customers", "dim_customers", ()),
    ("marts.customer_identifiers", "customer_identifiers", ("dim_customers",)),
    ("marts.fct_sessions", "fct_sessions", ("dim_customers",)),
    ("marts.fct_conversion_paths", "fct_conversion_paths", ()),
    ("marts.fct_attribution", "fct_attribution", ()),
    # a view of the predictions too: its gate waits for the prediction step (orchestration/defs/dbt/assets.py)
    ("marts.customer_360", "customer_360", ("dim_customers", "customer_predictions")),
    ("marts.fct_customer_journeys", "fct_customer_journeys", ("dim_customers",)),
    ("marts.customer_predictions", "customer_predictions", ("dim_customers",)),
    ("marts.prediction_model_parameters", "prediction_model_parameters", ()),
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
    "customer_predictions": "one row per customer, every one in dim_customers, p_alive in [0, 1], expectations "
                            "finite, non-negative and present for every customer (one-time buyers included)",
    "prediction_model_parameters": "one row per (model, parameter), every value finite and positive, and every "
                                   "fit of the prediction step converged (ops.prediction_fits)",
}


def mart_checks(
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
        definitions.append(_mart_check(table, name, deps, pool))
    return definitions


def _mart_check(table: str, name: str, deps: list[AssetKey], pool: str | None) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(["marts", name]),
        name=f"{name}_quality",
        blocking=True,
        additional_deps=deps or None,
        description=f"Great Expectations suite {table}: {MART_CHECK_DESCRIPTIONS[name]}.",
        pool=pool,
        metadata={"suite": table},
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        return check_mart(context, table, warehouse.build, warehouse.reports)

    return _check
