"""Batch gates on ingestion's books: a file evidently worse than the reject threshold, or an export that collapsed
in volume.

Row-level problems go to quarantine; these checks decide when a whole delivery is too broken to build on.
They read `ops.loaded_files` (rows read / loaded / quarantined per file) of the source's latest load and are
blocking, so nothing downstream runs and the published warehouse stays as it was.
"""

from dataclasses import dataclass

import dagster as dg
import duckdb

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.warehouse import connect
from rules.contract import SOURCES
from rules.thresholds import RawThresholds, raw_thresholds, share_lower_bound


@dataclass
class BatchVerdict:
    passed: bool
    description: str
    failures: list[dict]


def judge_reject_rates(con: duckdb.DuckDBPyConnection, source: str, t: RawThresholds) -> BatchVerdict:
    """Files of the latest load that are evidently worse than the source's reject threshold: at least
    `min_rejected_rows` rejects, and a reject share whose lower confidence bound is above `max_reject_rate` (so a
    small file does not stop the night on noise; see RawThresholds.reject_rate_confidence)."""
    rows = con.execute(
        """
        select file_path, rows_read, rows_quarantined from ops.loaded_files
        where source = ? and status = 'loaded'
          and load_id = (select load_id from ops.loads where source = ? order by started_at desc, load_id desc limit 1)
        order by file_path
        """,
        [source, source],
    ).fetchall()
    level = f"{t.reject_rate_confidence:.0%}"
    failures = []
    for path, read, quarantined in rows:
        rate = quarantined / read if read else 0.0
        if quarantined < t.min_rejected_rows or rate <= t.max_reject_rate:
            continue
        bound = share_lower_bound(quarantined, read, t.reject_rate_confidence)
        if bound > t.max_reject_rate:
            failures.append({
                "rule": "reject_rate", "column": None, "file": path,
                "observed": f"{quarantined} of {read} rows quarantined ({rate:.1%}); at {level} confidence the "
                            f"share is at least {bound:.1%} (Clopper-Pearson lower bound), above the "
                            f"{t.max_reject_rate:.0%} allowed",
                "share": rate, "bound": bound, "allowed": t.max_reject_rate,
                "samples": _reasons(con, source, path),
            })
    if failures:
        return BatchVerdict(False, f"{source}: " + "; ".join(f"{f['file']}: {f['observed']}" for f in failures), failures)
    return BatchVerdict(True, f"{source}: {len(rows)} new file(s), no reject share above {t.max_reject_rate:.0%} "
                              f"at {level} confidence", [])


def _reasons(con: duckdb.DuckDBPyConnection, source: str, path: str) -> list[str]:
    return [
        f"{rule}: {n}"
        for rule, n in con.execute(
            f"select _rule, count(*) from quarantine.{source} where _source_file = ? group by 1 order by 2 desc", [path]
        ).fetchall()
    ]


def judge_volume(con: duckdb.DuckDBPyConnection, source: str, t: RawThresholds) -> BatchVerdict:
    """Rows per export date of the latest load against the median of the dates before it."""
    daily = con.execute(
        """
        select export_date, sum(rows_read) as rows_read,
               bool_or(load_id = (select load_id from ops.loads where source = ?
                                  order by started_at desc, load_id desc limit 1)) as is_new
        from ops.loaded_files where source = ? and status in ('loaded', 'empty')
        group by export_date order by export_date
        """,
        [source, source],
    ).fetchall()
    failures = []
    for i, (export_date, rows_read, is_new) in enumerate(daily):
        if not is_new:
            continue
        history = sorted(r for _, r, new in daily[max(0, i - t.volume_lookback):i] if not new)
        if len(history) < 3:
            continue
        median = history[len(history) // 2]
        if median >= t.volume_min_baseline_rows and rows_read < t.volume_collapse_ratio * median:
            failures.append({
                "rule": "volume_collapse", "column": None, "file": str(export_date),
                "observed": f"{rows_read} rows for export date {export_date}; median of the previous "
                            f"{len(history)} dates is {median}, the floor {t.volume_collapse_ratio:.0%} of it",
                "samples": [],
            })
    if failures:
        return BatchVerdict(False, f"{source}: " + "; ".join(f["observed"] for f in failures), failures)
    return BatchVerdict(True, f"{source}: volume of the new export dates within range", [])


def _result(verdict: BatchVerdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed, severity=dg.AssetCheckSeverity.ERROR, description=verdict.description,
        metadata={"failed_expectations": dg.MetadataValue.json(verdict.failures)},
    )


def _judge(warehouse: WarehouseResource, judge, source: str) -> dg.AssetCheckResult:
    """Run one batch rule on the run's build file, holding the (read-only) connection only while it reads."""
    if not warehouse.build.exists():
        raise dg.Failure(f"{warehouse.build}: no such warehouse file to check; run the ingestion assets first")
    con = connect(str(warehouse.build), read_only=True)
    try:
        return _result(judge(con, source, raw_thresholds(source)))
    finally:
        con.close()


def batch_checks() -> list[dg.AssetChecksDefinition]:
    checks = []
    for source in SOURCES:
        key = dg.AssetKey(["raw", source])

        def make(source: str, key: dg.AssetKey):
            @dg.asset_check(asset=key, name=f"raw_{source}_reject_rate", blocking=True,
                            description=f"No {source} file of this load is mostly quarantined rows.")
            def reject_rate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
                return _judge(warehouse, judge_reject_rates, source)

            @dg.asset_check(asset=key, name=f"raw_{source}_volume", blocking=True,
                            description=f"Tonight's {source} export has not collapsed against recent exports.")
            def volume(warehouse: WarehouseResource) -> dg.AssetCheckResult:
                return _judge(warehouse, judge_volume, source)

            return [reject_rate, volume]

        checks += make(source, key)
    return checks
