"""`journey run`: materialize the nightly job of the Dagster definitions in-process and print a summary."""

import contextlib
import fcntl
import os
import re
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

import duckdb

from orchestration.defs.resources import build_path_for, scoped_environment


@dataclass
class CheckOutcome:
    name: str
    asset: str
    passed: bool
    blocking: bool
    detail: str = ""
    expectations: list[dict] = field(default_factory=list)  # failed GX expectations: rule, observed, samples


@dataclass
class RunSummary:
    run_id: str
    success: bool
    published: bool
    warehouse: Path
    sources: list[tuple] = field(default_factory=list)  # (source, files_new, read, loaded, quarantined)
    reasons: list[tuple] = field(default_factory=list)  # (source, rule, rows)
    suppressed: list[tuple] = field(default_factory=list)  # (source, rows carrying an erased person's identifier)
    erasures: list[tuple] = field(default_factory=list)  # (request id, rows removed) applied by this run
    customers: int | None = None
    touchpoints: int | None = None
    markov: list[tuple] = field(default_factory=list)  # (channel, standard-model conversions, per-conversion sum)
    checks: list[CheckOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    log_file: Path | None = None
    quality_reports: Path | None = None  # index.html of the GX Data Docs pages
    report: Path | None = None  # the journey report written after a successful run
    report_error: str = ""  # why it was not written (the run itself stays successful)

    @property
    def exit_code(self) -> int:
        blocking_failed = any(not c.passed and c.blocking for c in self.checks)
        return 0 if self.success and self.published and not blocking_failed else 1


# Set while a run executes, restored after: one planned event per asset for a run over a range of export dates,
# and no usage reports from Dagster or dbt.
RUN_ENVIRONMENT = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1", "DAGSTER_DISABLE_TELEMETRY": "1",
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


class RunInProgress(RuntimeError):
    """Another `journey run` holds the warehouse's run lock."""


@contextlib.contextmanager
def run_lock(warehouse: Path):
    """One run at a time per warehouse: two runs would write the same build file."""
    lock_path = warehouse.resolve().with_name(warehouse.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RunInProgress(f"another run is writing {warehouse} (lock {lock_path}); wait for it to finish") from exc
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_config(full_refresh: bool = False, log_level: str | None = None) -> dict:
    """The Dagster run config of a `journey run`: console log level, and the dbt step's full refresh."""
    config: dict = {"loggers": {"console": {"config": {
        "log_level": log_level or os.environ.get("JOURNEY_LOG_LEVEL", "WARNING")}}}}
    if full_refresh:
        config["ops"] = {"journey_dbt_models": {"config": {"full_refresh": True}}}
    return config


def execute(landing: Path, warehouse: Path, start: date | None = None, end: date | None = None,
            full_refresh: bool = False, progress: TextIO | None = None) -> RunSummary:
    """Run the nightly job in this process over export dates start..end (default: export_date_range).

    Never raises for a failed step: the summary says what failed. Raises ValueError for a landing folder that
    holds no source folder or a date range the partitions cannot hold, and RunInProgress when another run holds
    the warehouse. The paths reach the run through its resources; the environment variables set for the run are
    restored afterwards. With `progress` (a stream), what the run is doing is written there as it happens.
    """
    from orchestration.defs.partitions import first_export_date, partition_range_tags
    from orchestration.defs.resources import warehouse_resource
    from orchestration.lib.ingest import IngestError, check_landing
    from orchestration.lib.warehouse import discard_early_copy, start_early_copy

    try:
        check_landing(landing)
    except IngestError as exc:
        raise ValueError(str(exc)) from exc
    with run_lock(warehouse):
        # the build file's copy, beside the set-up below (orchestration/lib/warehouse.py "start_early_copy")
        paths = warehouse_resource(warehouse, landing)
        start_early_copy(paths.published, paths.build)
        try:
            if start is None and end is None:
                start, end = export_date_range(landing, warehouse)
            tags = partition_range_tags(start or end, end or start, first_export_date(landing))
            with scoped_environment(**RUN_ENVIRONMENT):
                summary = _execute(landing, warehouse, tags, run_config(full_refresh), progress)
        finally:
            discard_early_copy(paths.build)
    if summary.exit_code == 0:
        write_run_report(summary)
    return summary


def report_path(warehouse: Path, engine: str = "duckdb") -> Path:
    """Where runs write the journey report: beside the quality reports (JOURNEY_QUALITY_REPORTS, else
    quality_reports/ beside the warehouse; on Spark, quality_reports/ in the Spark warehouse folder)."""
    from orchestration.defs.resources import warehouse_resource
    from orchestration.lib.report import REPORT_NAME

    if engine == "spark":
        return warehouse / "quality_reports" / REPORT_NAME
    return warehouse_resource(warehouse).reports / REPORT_NAME


def write_run_report(summary: RunSummary, engine: str = "duckdb") -> None:
    """The journey report of the published warehouse (on Spark: of the published generation, beside the Spark
    warehouse's quality reports). A report that cannot be drawn is said in the summary; the warehouse is published
    and checked all the same, so the run does not fail for it."""
    from orchestration.lib.report import write_report

    try:
        summary.report = write_report(summary.warehouse, report_path(summary.warehouse, engine), engine)
    except Exception as exc:  # noqa: BLE001 - any drawing error is reported, never fails a published run
        summary.report_error = f"{type(exc).__name__}: {exc}"


def export_date_range(landing: Path, warehouse: Path) -> tuple[date, date]:
    """The export dates a `journey run` covers: from the first to the last date holding a file the published
    warehouse has not registered (a night: tonight's folder), so a run costs what is new, not every landed folder.
    With nothing new, the latest landed date (the run loads nothing and builds, e.g. after a rule change)."""
    from orchestration.defs.partitions import landed_dates
    from orchestration.lib.ingest import IngestError, pending_export_dates

    dates = landed_dates(landing)
    if not dates:
        return date.today(), date.today()
    registry: set[tuple[str, str]] | None = set()
    if warehouse.exists():
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                registry = set(con.execute("select file_sha256, file_path from ops.loaded_files").fetchall())
            finally:
                con.close()
        except duckdb.Error:
            registry = None  # no registry (or an unreadable file): cover everything, the run will say what is wrong
    if registry is None:
        return dates[0], dates[-1]
    try:
        pending = pending_export_dates(registry, landing)
    except IngestError:
        return dates[0], dates[-1]  # a stray folder: the ingestion step names it and fails the run
    return (pending[0], pending[-1]) if pending else (dates[-1], dates[-1])


def _execute(landing: Path, warehouse: Path, tags: dict[str, str], config: dict,
             progress: TextIO | None = None) -> RunSummary:
    import dagster as dg

    from orchestration.definitions import NIGHTLY_JOB, build_definitions
    from orchestration.defs.dbt.assets import DBT_ASSETS
    from orchestration.defs.instance import run_instance
    from orchestration.progress import Progress

    warehouse.resolve().parent.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(warehouse=warehouse, landing=landing)
    job = defs.resolve_job_def(NIGHTLY_JOB)
    log_dir = warehouse.resolve().parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "journey-run-latest.log"
    with (
        run_instance() as instance,
        log_file.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),  # dbt's own log lines go to the log file, the summary to the terminal
    ):
        run_id = str(uuid.uuid4())
        reporter = Progress(progress, defs, DBT_ASSETS) if progress is not None else None
        if reporter is not None:
            start, end = (tags.get(f"dagster/asset_partition_range_{edge}") for edge in ("start", "end"))
            reporter.line(f"journey run: export dates {start} to {end} from {landing}")
            instance.add_event_listener(run_id, reporter.on_event)
        try:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, tags=tags or {}, run_config=config, run_id=run_id,
            )
        finally:
            if reporter is not None:
                reporter.close()
        published = any(
            mat.asset_key == dg.AssetKey(["publish", "warehouse"])
            for mat in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
        )
        summary = RunSummary(result.run_id, result.success, published, warehouse.resolve())
        for ev in result.get_asset_check_evaluations():
            meta = {k: v.value for k, v in (ev.metadata or {}).items()}
            failed = meta.get("failed_expectations") or []
            summary.checks.append(
                CheckOutcome(ev.check_name, ev.asset_key.to_user_string(), ev.passed, ev.blocking,
                             str(ev.description or meta.get("summary") or ""),
                             failed if isinstance(failed, list) else [])
            )
        for event in result.get_step_failure_events():
            error = event.event_specific_data.error
            while error is not None and error.cause is not None and "Error occurred while executing" in error.message:
                error = error.cause  # the user-facing cause, not Dagster's wrapper
            message = (error.message if error else "").strip()
            summary.failures.append(f"{event.step_key}: {message.splitlines()[0] if message else 'failed'}")
    summary.log_file = log_file
    summary.quality_reports = defs.resources["warehouse"].reports / "index.html"
    summary.failures += dbt_errors(log_file.read_text(encoding="utf-8"))
    _read_counts(summary)
    return summary


def dbt_errors(log_text: str, limit: int = 15) -> list[str]:
    """The dbt lines that say what failed (a model error or a failing data test), without colour codes."""
    lines = []
    for raw in log_text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).strip()
        if re.search(r"\b(ERROR|FAIL) \d+\b|Failure in |Database Error|Compilation Error|Runtime Error", line):
            lines.append("dbt: " + line)
    return lines[:limit]


def _read_counts(summary: RunSummary) -> None:
    """Counts come from the published file when the run published, else from the run's build file."""
    path = summary.warehouse if summary.published else build_path_for(summary.warehouse)
    if not path.exists():
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return
    try:
        read_books(con, summary)
        summary.customers = _count(con, "marts.dim_customers")
        summary.touchpoints = _count(con, "marts.fct_touchpoints")
        with contextlib.suppress(duckdb.Error):
            summary.markov = con.execute(
                "select channel, attributed_conversions, per_conversion_credits "
                "from marts.fct_markov_channel_attribution order by attributed_conversions desc, channel"
            ).fetchall()
    finally:
        con.close()


def read_books(con: duckdb.DuckDBPyConnection, summary: RunSummary, counted: list[tuple[str, str, int]] | None = None
               ) -> None:
    """The run's books into the summary: rows per source, quarantine reasons, rows suppressed and erasures applied
    (`journey run`; `journey run --engine spark` on its books file). The reasons are read from the quarantine tables,
    or taken from `counted`, the run's quarantined rows as (load_id, rule, rows) counted elsewhere (on Spark, where
    the staged rows are)."""
    summary.sources = con.execute(
        """
        select source, sum(files_loaded), sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
        from ops.loads where run_id = ? group by source order by source
        """,
        [summary.run_id],
    ).fetchall()
    loads = dict(con.execute("select load_id, source from ops.loads where run_id = ?", [summary.run_id]).fetchall())
    if counted is None:
        counted = con.execute(f"select _load_id, _rule, count(*) from {_quarantine_union(con)} q "
                              f"where _load_id in (select load_id from ops.loads where run_id = ?) group by all",
                              [summary.run_id]).fetchall()
    reasons: dict[tuple[str, str], int] = {}
    for load_id, rule, rows in counted:
        if load_id in loads:
            reasons[(loads[load_id], rule)] = reasons.get((loads[load_id], rule), 0) + rows
    summary.reasons = [(source, rule, rows) for (source, rule), rows in sorted(reasons.items())]
    with contextlib.suppress(duckdb.Error):  # a warehouse from before the privacy tables
        summary.suppressed = con.execute(
            "select source, sum(rows_suppressed) from ops.loads where run_id = ? group by source "
            "having sum(rows_suppressed) > 0 order by source", [summary.run_id]).fetchall()
        summary.erasures = con.execute("select request_id, rows_removed from ops.erasures where run_id = ? "
                                       "order by request_id", [summary.run_id]).fetchall()


def _quarantine_union(con: duckdb.DuckDBPyConnection) -> str:
    tables = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'quarantine'").fetchall()]
    if not tables:
        return "(select null::varchar as _load_id, null::varchar as _rule where false)"
    return "(" + " union all ".join(f"select _load_id, _rule from quarantine.{t}" for t in tables) + ")"


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    except duckdb.Error:
        return None


def format_summary(s: RunSummary) -> str:
    lines = [f"journey run {s.run_id[:8]}: {'OK' if s.exit_code == 0 else 'FAILED'}"]
    lines.append(f"warehouse: {s.warehouse} ({'published' if s.published else 'NOT published; previous version intact'})")
    lines.append("")
    lines.append(f"{'source':<18}{'new files':>10}{'rows read':>12}{'loaded':>12}{'quarantined':>13}")
    for source, files, read, loaded, quarantined in s.sources:
        lines.append(f"{source:<18}{files:>10}{read:>12}{loaded:>12}{quarantined:>13}")
    if s.suppressed:
        lines.append("suppressed (an erased person's identifier, not loaded): "
                     + ", ".join(f"{source} {n}" for source, n in s.suppressed))
    for request_id, removed in s.erasures:
        lines.append(f"erasure {request_id} applied: {removed} rows removed (ops.erasures); files rewritten")
    if s.reasons:
        lines.append("")
        lines.append("quarantined rows by rule:")
        for source in sorted({src for src, _, _ in s.reasons}):
            rules = ", ".join(f"{rule} {n}" for src, rule, n in s.reasons if src == source)
            lines.append(f"  {source:<16}  {rules}")
    lines.append("")
    lines.append(f"customers: {s.customers if s.customers is not None else 'n/a'}    "
                 f"touchpoints: {s.touchpoints if s.touchpoints is not None else 'n/a'}")
    if s.markov:
        lines += textwrap.wrap(
            "markov attribution, conversions by channel: the standard model (marts.fct_markov_channel_attribution, "
            "for channel totals) and, in brackets, the sums of fct_attribution's per-conversion markov credits, which "
            "keep each conversion on its own path's channels and so differ (use those per conversion):", width=110)
        lines += textwrap.wrap(", ".join(f"{c} {std:.1f} ({per:.1f})" for c, std, per in s.markov),
                               width=110, initial_indent="  ", subsequent_indent="  ")
    passed = sum(c.passed for c in s.checks)
    lines.append(f"checks: {passed} passed, {len(s.checks) - passed} failed")
    for c in s.checks:
        if not c.passed:
            lines.append(f"  FAILED {'(blocking) ' if c.blocking else ''}{c.asset} {c.name}")
            lines += [f"    {line}" for line in format_expectations(c)]
    for failure in s.failures:
        lines.append(f"  failed: {failure[:500]}")
    lines.append("")
    if s.log_file:
        lines.append(f"full log (dbt included): {s.log_file}")
    if s.quality_reports and s.quality_reports.exists():
        lines.append(f"quality reports: {s.quality_reports}")
    if s.report_error:
        lines.append(f"journey report NOT written: {s.report_error[:500]}")
    if s.report:
        lines.append(f"journey report (open in a browser): {s.report}")
    return "\n".join(lines)


def format_expectations(check: CheckOutcome, samples: int = 3) -> list[str]:
    """Each failed expectation: rule, column, observed value, and a few sample rows (file, line, values)."""
    if not check.expectations:
        return [check.detail[:800]] if check.detail else []
    lines = []
    for f in check.expectations:
        column = f" on {f['column']}" if f.get("column") else ""
        where = f" in {f['file']}" if f.get("file") else ""
        lines.append(f"{f.get('rule')}{column}{where}: {f.get('observed')}")
        for row in (f.get("sample_rows") or [])[:samples]:
            shown = {k: v for k, v in row.items() if not k.startswith("_") or k in ("_source_file", "_row_number")}
            lines.append("    e.g. " + ", ".join(f"{k}={v}" for k, v in shown.items())[:300])
        if not f.get("sample_rows") and f.get("samples"):
            lines.append("    e.g. " + ", ".join(str(v) for v in f["samples"][:samples])[:300])
    return lines


def run_pipeline(landing: Path, warehouse: Path, start: date | None = None, end: date | None = None,
                 command: str = "journey run", full_refresh: bool = False) -> int:
    try:
        summary = execute(landing, warehouse, start, end, full_refresh=full_refresh, progress=sys.stderr)
    except (RunInProgress, ValueError) as exc:
        print(f"{command}: {exc}")
        return 3 if isinstance(exc, RunInProgress) else 2
    print(format_summary(summary))
    return summary.exit_code
