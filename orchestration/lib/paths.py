"""Where a run reads exports and keeps the warehouse, decided in one place.

The `journey` command passes its `--landing` and `--warehouse`; `dagster dev`, which cannot pass arguments, reads
JOURNEY_LANDING and JOURNEY_WAREHOUSE (the command reads them too when an option is left out); without them, the
bundled sample and `warehouse/journey.duckdb` in the project folder. Nothing else reads those variables: the
resolved paths reach assets, checks, the sensor and dbt through the Dagster `warehouse` resource
(orchestration/defs/resources.py).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_ENV = "JOURNEY_WAREHOUSE"  # the published warehouse
LANDING_ENV = "JOURNEY_LANDING"
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse" / "journey.duckdb"
DEFAULT_LANDING = PROJECT_ROOT / "seeds" / "landing"


def resolve_warehouse(warehouse: Path | None = None) -> Path:
    """The published warehouse file, absolute: the one given, else JOURNEY_WAREHOUSE, else the default."""
    return Path(warehouse or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE).resolve()


def resolve_landing(landing: Path | None = None) -> Path:
    """The landing folder, absolute: the one given, else JOURNEY_LANDING, else the bundled sample."""
    return Path(landing or os.environ.get(LANDING_ENV) or DEFAULT_LANDING).resolve()


def build_path_for(published: Path) -> Path:
    """The file a run writes to; it becomes the published warehouse only after every gate passed."""
    return published.with_name(published.name + ".build")
