"""The Dagster code location: exports -> raw (+ quality gates) -> dbt models -> predictions (which the view
customer_360 shows) -> mart gates -> publish."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.defs.dbt.assets import journey_dbt_models
from orchestration.defs.dbt.project import dbt_resource
from orchestration.defs.ingest.assets import build_warehouse, raw_assets
from orchestration.defs.partitions import export_dates
from orchestration.defs.prediction.assets import predict_purchases
from orchestration.defs.publish.assets import published_warehouse
from orchestration.defs.quality.batch import batch_checks
from orchestration.defs.quality.checks import mart_checks, raw_source_checks
from orchestration.defs.resources import warehouse_resource
from orchestration.defs.schedules import landing_sensor, nightly_schedule

NIGHTLY_JOB = "nightly"


def nightly_job() -> dg.UnresolvedAssetJobDefinition:
    """Every asset; partitioned by export date, as the raw assets are (Dagster takes the job's partitions from the
    assets it selects)."""
    return dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        description="Load new exports of the export date(s), gate them, build the models, predict purchases, gate the "
                    "marts, publish.",
    )


def build_definitions(warehouse: Path | None = None, landing: Path | None = None) -> dg.Definitions:
    """The code location, for the published warehouse and landing folder given (`journey run`), else those of
    JOURNEY_WAREHOUSE and JOURNEY_LANDING (`dagster dev`), else the defaults (orchestration.defs.resources).
    The export-date partitions start at the landing folder's oldest export (orchestration.defs.partitions)."""
    resource = warehouse_resource(warehouse, landing)
    partitions = export_dates(resource.landing)
    return dg.Definitions(
        assets=[build_warehouse, *raw_assets(partitions), journey_dbt_models, predict_purchases, published_warehouse],
        asset_checks=[*raw_source_checks(), *batch_checks(), *mart_checks()],
        jobs=[nightly_job()],
        schedules=[nightly_schedule(NIGHTLY_JOB)],
        sensors=[landing_sensor(NIGHTLY_JOB)],
        resources={
            "warehouse": resource,
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
