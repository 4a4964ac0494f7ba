"""Export-date partitions: the folder date under <landing>/<source>/ is the partition key.

The first partition is the oldest export folder of the landing area, or 2020-01-01 when the landing holds nothing
older (so the partitions of a Dagster instance stay put from one night to the next); JOURNEY_FIRST_EXPORT_DATE, when
set, overrides both.
"""

import os
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import dagster as dg

from orchestration.lib.ingest import DATE_FOLDER
from rules.contract import SOURCES

FIRST_EXPORT_DATE_ENV = "JOURNEY_FIRST_EXPORT_DATE"
DEFAULT_FIRST_EXPORT_DATE = date(2020, 1, 1)


def first_export_date(landing: Path | None = None) -> date:
    """The first partition: JOURNEY_FIRST_EXPORT_DATE when set, else the oldest landed export date when it is
    before 2020-01-01, else 2020-01-01."""
    override = os.environ.get(FIRST_EXPORT_DATE_ENV, "").strip()
    if override:
        try:
            return date.fromisoformat(override)
        except ValueError as exc:
            raise ValueError(f"{FIRST_EXPORT_DATE_ENV}={override!r} is not a date (YYYY-MM-DD)") from exc
    try:
        landed = landed_dates(landing) if landing is not None else []
    except ValueError:  # a folder named like a date that is none: the ingestion step names it
        landed = []
    return min([DEFAULT_FIRST_EXPORT_DATE, *landed[:1]])


@cache
def _daily(start: date) -> dg.DailyPartitionsDefinition:
    # end_offset=1: tonight's folder (today's date) is a partition as soon as the day starts.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1, fmt="%Y-%m-%d")


def export_dates(landing: Path | None = None) -> dg.DailyPartitionsDefinition:
    """The partitions of the raw assets and the nightly job for this landing folder (see first_export_date)."""
    return _daily(first_export_date(landing))


def landed_dates(landing: Path) -> list[date]:
    """Every export date that has a folder under any source, oldest first."""
    found = set()
    for source in SOURCES:
        root = landing / source
        if root.is_dir():
            found.update(date.fromisoformat(p.name) for p in root.iterdir() if p.is_dir() and DATE_FOLDER.match(p.name))
    return sorted(found)


def partition_range_tags(start: date, end: date, first: date | None = None) -> dict[str, str]:
    """Run tags that make one run cover a range of export dates (raw assets use a single-run backfill policy).
    `first` is the first partition of the definitions the run executes (default: first_export_date())."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    first = first or first_export_date()
    if start < first:
        raise ValueError(
            f"export date {start} is before the first partition {first} ({FIRST_EXPORT_DATE_ENV} is set): "
            f"unset it, or set it to {start} or earlier"
            if os.environ.get(FIRST_EXPORT_DATE_ENV, "").strip() else
            f"export date {start} is before the first partition {first}, the oldest export folder of the landing "
            f"area; set {FIRST_EXPORT_DATE_ENV}=YYYY-MM-DD to go further back"
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
