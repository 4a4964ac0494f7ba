"""The Dagster code location: exports -> raw (+ quality gates) -> dbt models -> mart gates -> publish."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.defs.resources import (
    BUILD_ENV,
    LANDING_ENV,
    WAREHOUSE_ENV,
    WarehouseResource,
    build_path_for,
    landing_from_env,
    published_from_env,
)

# dbt's profiles.yml reads the same variable; make it explicit (absolute) before dbt is ever invoked.
os.environ.setdefault(WAREHOUSE_ENV, str(published_from_env()))
os.environ.setdefault(LANDING_ENV, str(landing_from_env()))
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

from orchestration.defs.dbt.assets import journey_dbt_models  # noqa: E402
from orchestration.defs.dbt.project import dbt_project  # noqa: E402
from orchestration.defs.ingest.assets import RAW_ASSETS, build_warehouse  # noqa: E402
from orchestration.defs.partitions import EXPORT_DATES  # noqa: E402
from orchestration.defs.publish.assets import published_warehouse  # noqa: E402
from orchestration.defs.quality.batch import batch_checks  # noqa: E402
from orchestration.defs.quality.checks import mart_checks, raw_source_checks  # noqa: E402
from orchestration.defs.schedules import landing_sensor, nightly_schedule  # noqa: E402

NIGHTLY_JOB = "nightly"

nightly_job = dg.define_asset_job(
    NIGHTLY_JOB,
    selection=dg.AssetSelection.all(),
    partitions_def=EXPORT_DATES,
    description="Load new exports of the export date(s), gate them, build the models, gate the marts, publish.",
)


def dbt_executable() -> str:
    """The dbt installed next to this Python (a venv's bin is not always on PATH, e.g. under `dagster dev`)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_definitions() -> dg.Definitions:
    # Quality checks read the run's build file, named after the published warehouse.
    os.environ[BUILD_ENV] = str(build_path_for(Path(os.environ[WAREHOUSE_ENV])))
    return dg.Definitions(
        assets=[build_warehouse, *RAW_ASSETS, journey_dbt_models, published_warehouse],
        asset_checks=[*raw_source_checks(BUILD_ENV), *batch_checks(BUILD_ENV), *mart_checks(BUILD_ENV)],
        jobs=[nightly_job],
        schedules=[nightly_schedule(nightly_job)],
        sensors=[landing_sensor(nightly_job)],
        resources={
            "warehouse": WarehouseResource(
                warehouse_path=os.environ[WAREHOUSE_ENV], landing_dir=os.environ[LANDING_ENV]
            ),
            "dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
        },
    )


defs = build_definitions()
