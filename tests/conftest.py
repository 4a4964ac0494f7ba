"""Shared fixtures: dbt's manifest, and built warehouses that tests share instead of building again.

A built warehouse is made once per test session (across pytest-xdist workers too: the first worker that needs it
builds it under a file lock, the others wait and reuse it). Tests that only read it use it as it is; tests that
load more, break something or run the pipeline again work on their own copy (`tests.helpers.copy_warehouse`).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import DBT_DIR, ROOT, SAMPLE_LANDING, BuiltWarehouse, built_once, dbt, scratch_warehouse

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

# Files whose tests run the whole pipeline or many dbt builds. `make test` hands whole files to its two workers
# (`--dist loadfile`: a module fixture is built once) in this order, the longest first, so both end together.
SLOW_FIRST = ("test_crash.py", "test_incremental.py", "test_end_to_end.py", "test_faults.py", "test_dbt.py",
              "test_identity_ids.py", "test_definitions.py")


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project once per session (in the controller when pytest-xdist runs workers): the definitions
    read the manifest, and every dbt invocation of the tests starts from its partial-parse state."""
    if hasattr(config, "workerinput"):
        return
    # With the profile `make parse` uses (the default warehouse's): dbt then finds its parse state and parses only
    # what changed, and leaves that state usable for the next `make run`.
    result = dbt("parse", "--quiet", warehouse=ROOT / "warehouse" / "journey.duckdb", target=DBT_DIR / "target")
    if result.returncode != 0:
        raise pytest.UsageError("dbt parse failed:\n" + result.stdout[-4000:] + result.stderr[-2000:])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (a stable sort keeps the order within a file)."""
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> BuiltWarehouse:
    """The bundled sample (seeds/landing) through `journey run` (a process of its own, as a user starts it) into a
    new warehouse, once per session; what it printed is kept (stdout: the summary; stderr: progress, warnings).

    Read-only: tests that change the landing folder or the warehouse copy them first."""
    def build(root: Path) -> BuiltWarehouse:
        warehouse = root / "warehouse" / "journey.duckdb"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
        run = subprocess.run([sys.executable, "-m", "orchestration.cli", "run", "--landing", str(SAMPLE_LANDING),
                              "--warehouse", str(warehouse)], env=env, capture_output=True, text=True, check=False)
        return BuiltWarehouse(SAMPLE_LANDING, warehouse, None, run.stdout, run.stderr)

    return built_once(tmp_path_factory, "sample", build)


@pytest.fixture
def sample_landing(tmp_path) -> Path:
    """A private copy of the bundled sample, so a test may add or break files."""
    target = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, target)
    return target


@pytest.fixture
def scratch(tmp_path_factory) -> Path:
    """This worker's scratch warehouse path (`tests.helpers.scratch_warehouse`), emptied but for dbt's parse state:
    a test that builds on a private copy there starts dbt from the previous test's parse state."""
    return scratch_warehouse(tmp_path_factory)
