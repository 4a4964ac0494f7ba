"""Shared fixtures: dbt's manifest (dagster-dbt needs it before the definitions import) and sample copies."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
SAMPLE_LANDING = ROOT / "seeds" / "landing"
SAMPLE_TRUTH = ROOT / "seeds" / "truth"

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def dbt(*args: str, warehouse: Path | None = None) -> subprocess.CompletedProcess:
    """Run the dbt beside this Python against `warehouse` (dbt writes `<warehouse>.build`)."""
    env = dict(os.environ)
    if warehouse is not None:
        env["JOURNEY_WAREHOUSE"] = str(warehouse)
    exe = Path(sys.executable).parent / "dbt"
    return subprocess.run(
        [str(exe), *args, "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False,
    )


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    result = dbt("parse", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    return DBT_DIR / "target" / "manifest.json"


@pytest.fixture
def sample_landing(tmp_path) -> Path:
    """A private copy of the bundled sample, so a test may add or break files."""
    target = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, target)
    return target
