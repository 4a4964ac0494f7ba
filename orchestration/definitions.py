"""The Dagster code location: exports -> raw (+ quality gates) -> dbt models -> predictions (which the view
customer_360 shows) -> mart gates -> publish."""

from __future__ import annotations

import os
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
ENGINE_ENV = "JOURNEY_ENGINE"


def nightly_job() -> dg.UnresolvedAssetJobDefinition:
    """Every asset; partitioned by export date, as the raw assets are (Dagster takes the job's partitions from the
    assets it selects)."""
    return dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        description="Load new exports of the export date(s), gate them, build the models, predict purchases, gate the "
                    "marts, publish.",
    )


def build_definitions(warehouse: Path | None = None, landing: Path | None = None,
                      engine: str | None = None) -> dg.Definitions:
    """The code location, for the published warehouse and landing folder given (`journey run`), else those of
    JOURNEY_WAREHOUSE and JOURNEY_LANDING (`dagster dev`), else the defaults (orchestration.defs.resources).
    The export-date partitions start at the landing folder's oldest export (orchestration.defs.partitions).

    With engine `spark` (else JOURNEY_ENGINE=spark) the job runs the Spark engine's steps instead
    (orchestration/defs/spark/assets.py), on the Spark warehouse folder (JOURNEY_SPARK_WAREHOUSE, else
    warehouse/spark)."""
    engine = engine or os.environ.get(ENGINE_ENV, "duckdb").strip() or "duckdb"
    if engine == "spark":
        return _spark_definitions(warehouse, landing)
    if engine != "duckdb":
        raise ValueError(f"{ENGINE_ENV}={engine!r}: the engine is duckdb (the default) or spark")
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


def _spark_definitions(warehouse: Path | None, landing: Path | None) -> dg.Definitions:
    from orchestration.defs.spark.assets import spark_assets
    from orchestration.spark_run import resolve_spark_warehouse

    resource = warehouse_resource(resolve_spark_warehouse(warehouse), landing)
    return dg.Definitions(
        assets=spark_assets(export_dates(resource.landing)),
        jobs=[nightly_job()],
        schedules=[nightly_schedule(NIGHTLY_JOB)],
        sensors=[landing_sensor(NIGHTLY_JOB)],
        resources={"warehouse": resource},
    )


defs = build_definitions()
