"""Export-date partitions: the folder date under <landing>/<source>/ is the partition key."""

import os
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from orchestration.lib.ingest import DATE_FOLDER
from rules.contract import SOURCES

FIRST_EXPORT_DATE_ENV = "JOURNEY_FIRST_EXPORT_DATE"
DEFAULT_FIRST_EXPORT_DATE = "2020-01-01"


def first_export_date() -> str:
    return os.environ.get(FIRST_EXPORT_DATE_ENV, DEFAULT_FIRST_EXPORT_DATE)


# end_offset=1: tonight's folder (today's date) is a partition as soon as the day starts.
EXPORT_DATES = dg.DailyPartitionsDefinition(start_date=first_export_date(), end_offset=1, fmt="%Y-%m-%d")


def landed_dates(landing: Path) -> list[date]:
    """Every export date that has a folder under any source, oldest first."""
    found = set()
    for source in SOURCES:
        root = landing / source
        if root.is_dir():
            found.update(date.fromisoformat(p.name) for p in root.iterdir() if p.is_dir() and DATE_FOLDER.match(p.name))
    return sorted(found)


def partition_range_tags(start: date, end: date) -> dict[str, str]:
    """Run tags that make one run cover a range of export dates (raw assets use a single-run backfill policy)."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    first = date.fromisoformat(first_export_date())
    if start < first:
        raise ValueError(
            f"export date {start} is before the first partition {first}; set {FIRST_EXPORT_DATE_ENV}=YYYY-MM-DD"
        )
    last = date.today() + timedelta(days=1)
    if end > last:
        raise ValueError(f"export date {end} is in the future (the last partition is {last - timedelta(days=1)})")
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }


def dates_in(context: dg.AssetExecutionContext) -> set[date] | None:
    """The export dates a run covers (None: an unpartitioned materialization loads every date)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_key_range
    start, end = date.fromisoformat(window.start), date.fromisoformat(window.end)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}
