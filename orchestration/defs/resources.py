"""The warehouse resource: where exports land, where the published warehouse lives, where a run builds.

The paths are resolved once (orchestration.lib.paths) into this resource, and every asset, check, sensor and
the dbt step reads them from it.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib.paths import build_path_for, resolve_landing, resolve_warehouse
from orchestration.lib.warehouse import connect

REPORTS_ENV = "JOURNEY_QUALITY_REPORTS"  # where quality reports go (default: quality_reports/ beside the warehouse)
# The file dbt builds into: set by the dbt step for its own process only, read by dbt_project/profiles.yml.
DBT_BUILD_FILE_ENV = "JOURNEY_BUILD_WAREHOUSE"

__all__ = ["DBT_BUILD_FILE_ENV", "WarehouseResource", "build_path_for", "scoped_environment", "warehouse_resource"]


def warehouse_resource(warehouse: Path | None = None, landing: Path | None = None) -> "WarehouseResource":
    """The paths of a run: the given warehouse and landing folder, else the variables, else the defaults."""
    return WarehouseResource(warehouse_path=str(resolve_warehouse(warehouse)),
                             landing_dir=str(resolve_landing(landing)),
                             reports_dir=os.environ.get(REPORTS_ENV, "").strip())


@contextlib.contextmanager
def scoped_environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them (a child process started inside
    the block inherits them; this process keeps none of them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class WarehouseResource(dg.ConfigurableResource):
    """Paths of one pipeline run. Python assets and checks open and close their DuckDB connection themselves."""

    warehouse_path: str
    landing_dir: str
    reports_dir: str = ""  # default: quality_reports/ beside the warehouse

    @property
    def published(self) -> Path:
        return Path(self.warehouse_path).resolve()

    @property
    def build(self) -> Path:
        return build_path_for(self.published)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir).resolve()

    @property
    def dbt_target(self) -> Path:
        """dbt's artifacts and log of this warehouse's latest build (kept between runs, so dbt parses the project
        again only where it changed)."""
        return self.published.with_name(self.published.name + ".dbt")

    @property
    def reports(self) -> Path:
        """Where the quality checks write their Data Docs pages and summaries."""
        return Path(self.reports_dir).resolve() if self.reports_dir else self.published.parent / "quality_reports"

    def connect_build(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(str(self.build), read_only=read_only)
