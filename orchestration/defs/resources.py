"""The warehouse resource: where exports land, where the published warehouse lives, where a run builds."""


import os
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib.warehouse import connect

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One environment variable names the published warehouse; dbt's profiles.yml derives the build file from it too.
WAREHOUSE_ENV = "JOURNEY_WAREHOUSE"
LANDING_ENV = "JOURNEY_LANDING"
# Derived from JOURNEY_WAREHOUSE by the definitions; the quality checks read the build file through it.
BUILD_ENV = "JOURNEY_BUILD_WAREHOUSE"
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse" / "journey.duckdb"
DEFAULT_LANDING = PROJECT_ROOT / "seeds" / "landing"


def build_path_for(published: Path) -> Path:
    """The file a run writes to; it becomes the published warehouse only after every gate passed."""
    return published.with_name(published.name + ".build")


def previous_path_for(published: Path) -> Path:
    """The previously published version, kept for `journey rollback`."""
    return published.with_name(published.name + ".previous")


def published_from_env() -> Path:
    return Path(os.environ.get(WAREHOUSE_ENV, str(DEFAULT_WAREHOUSE))).resolve()


def landing_from_env() -> Path:
    return Path(os.environ.get(LANDING_ENV, str(DEFAULT_LANDING))).resolve()


class WarehouseResource(dg.ConfigurableResource):
    """Paths of one pipeline run. Python assets open and close their DuckDB connection inside the asset."""

    warehouse_path: str
    landing_dir: str

    @property
    def published(self) -> Path:
        return Path(self.warehouse_path).resolve()

    @property
    def build(self) -> Path:
        return build_path_for(self.published)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir).resolve()

    def connect_build(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(str(self.build), read_only=read_only)
