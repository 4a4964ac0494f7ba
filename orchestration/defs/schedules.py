"""When runs start: every night at a fixed hour, and whenever a new export folder lands."""

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from orchestration.defs.partitions import landed_dates
from orchestration.defs.resources import WarehouseResource
from rules.contract import SOURCES

NIGHTLY_CRON = "0 3 * * *"  # 03:00 in the schedule's time zone, after the exports of the day have landed


def nightly_schedule(job_name: str) -> dg.ScheduleDefinition:
    @dg.schedule(job_name=job_name, cron_schedule=NIGHTLY_CRON, execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Load tonight's export folder (today's date), build, check and publish.")
    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tonight = context.scheduled_execution_time.date()
        return dg.RunRequest(run_key=f"nightly-{tonight.isoformat()}", partition_key=tonight.isoformat())

    return nightly


def folder_signature(landing: Path, export_date: date) -> str:
    """Changes when a file is added to, or replaced in, any source's folder of that date."""
    entries = []
    for source in SOURCES:
        folder = landing / source / export_date.isoformat()
        if folder.is_dir():
            entries += [(source, p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in sorted(folder.iterdir())]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def landing_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(job_name=job_name, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Start a run for an export date whose folder appeared or changed in the landing area.")
    def new_export_folders(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        seen = json.loads(context.cursor) if context.cursor else {}
        horizon = date.today() - timedelta(days=30)  # older folders are backfills, not sensor work
        requests = []
        for export_date in landed_dates(warehouse.landing):
            if export_date < horizon or export_date > date.today():
                continue
            signature = folder_signature(warehouse.landing, export_date)
            if seen.get(export_date.isoformat()) != signature:
                seen[export_date.isoformat()] = signature
                requests.append(dg.RunRequest(run_key=f"landed-{export_date}-{signature}",
                                              partition_key=export_date.isoformat()))
        context.update_cursor(json.dumps(seen, sort_keys=True))
        return requests or dg.SkipReason("no new or changed export folders")

    return new_export_folders
