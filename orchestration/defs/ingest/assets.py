"""One asset per raw source: load every new export file into raw.<source>, rejects into quarantine.<source>."""


import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.partitions import dates_in
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.ingest import IngestError, check_landing, load_source, new_load_id
from orchestration.lib.privacy import (
    KEY_ENV,
    Erasure,
    PrivacyError,
    apply_erasures,
    erasure_marker,
    key_path,
    privacy_key,
    read_suppressions,
    suppressions_path,
    sync_suppressions,
)
from orchestration.lib.warehouse import (
    compact_free_share,
    compact_path,
    connect,
    early_copy_path,
    ensure_tables,
    fresh_build_marker,
    has_early_copy,
    requested_storage_version,
    start_build_file,
    storage_version,
    take_early_copy,
)
from rules.contract import SOURCES
from rules.thresholds import default_timestamp_floor

BUILD_KEY = dg.AssetKey(["ops", "build_warehouse"])


@dg.asset(key=BUILD_KEY, group_name="ingest", kinds={"duckdb"})
def build_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Start the run's build file from the published warehouse (raw history, id map); readers keep the old one."""
    from orchestration.defs.quality.checks import import_in_background

    import_in_background()  # the gates' library, while this step waits for the disk
    published, build = warehouse.published, warehouse.build
    build.parent.mkdir(parents=True, exist_ok=True)
    if build.exists():  # a crashed or failed run's leftovers; make sure none of its processes still writes them
        try:
            duckdb.connect(str(build)).close()
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower():  # a torn file from a killed run: it is rebuilt below anyway
                context.log.warning(f"discarding unreadable leftover {build}: {exc}")
            else:
                raise dg.Failure(
                    description=f"{build} is still held by another process ({exc}). A previous run (or its dbt) "
                    "is still running: wait for it or stop it, then start again.",
                    allow_retries=False,
                ) from exc
    compact = compact_path(str(build))  # a compaction a killed publish step left half-written
    erasing = published.with_name(published.name + ".previous.erasing")  # a killed publish's erasure of .previous
    leftovers = [build, build.with_name(build.name + ".wal"), compact, f"{compact}.wal", erasure_marker(build),
                 fresh_build_marker(build), erasing, erasing.with_name(erasing.name + ".wal")]
    if not has_early_copy(build):  # a killed run's early copy (this run's own is taken below)
        leftovers.append(early_copy_path(build))
    for leftover in leftovers:
        Path(leftover).unlink(missing_ok=True)
    shutil.rmtree(f"{compact}.tmp", ignore_errors=True)  # its spill folder
    try:  # settings from the environment and the landing folder are judged once, before anything is loaded
        check_landing(warehouse.landing)
        version = requested_storage_version()
        default_timestamp_floor()
        compact_free_share()
    except (ValueError, IngestError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    started = take_early_copy(published, build) or start_build_file(str(published), str(build), version)
    Path(fresh_build_marker(build)).touch()  # the dbt step's first build on it may scope its uniqueness tests
    context.log.info(started)
    con = connect(str(build))
    try:
        ensure_tables(con)
        erasure = _apply_erasures(con, warehouse, context.run_id)
    finally:
        con.close()
    if erasure is not None:
        context.log.info(f"erasure {', '.join(erasure.request_ids)}: {erasure.customers} customer(s), "
                         f"{erasure.identifiers} identifier(s), {erasure.total} rows removed; this run rebuilds "
                         "every model and its publish rewrites the file and the version kept for rollback")
    return dg.MaterializeResult(metadata={"build_file": str(build), "from_published": published.exists(),
                                          "start": started, "storage_version": str(storage_version(str(build))),
                                          "erasure_rows_removed": erasure.total if erasure else 0})


def _apply_erasures(con: duckdb.DuckDBPyConnection, warehouse: WarehouseResource, run_id: str) -> Erasure | None:
    """Copy the suppression list into the build file and apply the erasures not applied yet (journey forget);
    leaves the marker that makes the dbt step rebuild everything and the publish step rewrite the files."""
    try:
        entries = read_suppressions(warehouse.published)
    except PrivacyError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    if not entries:
        return None
    key = privacy_key(warehouse.published, create=False)
    if key is None:
        raise dg.Failure(description=f"{suppressions_path(warehouse.published)} lists erasures but the privacy key "
                         f"is missing ({KEY_ENV}, or {key_path(warehouse.published)}): restore it", allow_retries=False)
    pending = sync_suppressions(con, entries)
    if not pending:
        return None
    erasure = apply_erasures(con, key, pending, run_id=run_id)
    con.execute("checkpoint")
    erasure_marker(warehouse.build).write_text("\n".join(erasure.request_ids) + "\n", encoding="utf-8")
    return erasure


def make_raw_asset(source_name: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    # Single-run backfills (one run loads a whole range of export dates) are a deliberate choice; Dagster marks the
    # parameter beta and would print that whenever the definitions are built, into every run's log.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return _make_raw_asset(source_name, partitions_def)


def _make_raw_asset(source_name: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    source = SOURCES[source_name]

    @dg.asset(
        key=dg.AssetKey(["raw", source_name]),
        deps=[BUILD_KEY],
        group_name="raw",
        kinds={"duckdb"},
        description=f"Every row of every {source_name} export, as delivered, with lineage. Key: {source.key}.",
        partitions_def=partitions_def,
        # One run loads a whole range of export dates (a backfill, or `journey run` over every landed folder).
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        load_id = new_load_id(source_name)
        try:
            con = warehouse.connect_build()
        except OSError as exc:  # a transient file-system problem: worth another try
            raise dg.RetryRequested(max_retries=2, seconds_to_wait=10) from exc
        try:
            report = load_source(
                con, source_name, warehouse.landing, load_id, datetime.now(UTC).replace(tzinfo=None),
                run_id=context.run_id, dates=dates_in(context),
                privacy_key=privacy_key(warehouse.published, create=False),
            )
        except IngestError as exc:  # bad data: retrying cannot help, the message says what to fix
            raise dg.Failure(description=f"[{source_name}] {exc}", allow_retries=False) from exc
        finally:
            con.close()
        for f in report.files:
            if f.new_columns:
                context.log.warning(f"{f.path}: new column(s) kept: {', '.join(f.new_columns)}")
        return dg.MaterializeResult(
            metadata={
                "load_id": load_id,
                "files_new": report.files_loaded,
                "files_already_loaded": report.files_skipped,
                "rows_read": report.rows_read,
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
                "rows_suppressed": report.rows_suppressed,
                "quarantine_reasons": report.reasons(),
                "files": dg.MetadataValue.md(files_table(report.files)),
            }
        )

    return _raw


def files_table(files) -> str:
    if not files:
        return "no files"
    lines = ["| file | status | read | loaded | quarantined | suppressed | reasons |", "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {f.path} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_quarantined} | {f.rows_suppressed} "
        f"| {f.reasons or ''} |"
        for f in files
    ]
    return "\n".join(lines)


def raw_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One raw asset per source, partitioned by export date (orchestration.defs.partitions.export_dates)."""
    return [make_raw_asset(name, partitions_def) for name in SOURCES]
