"""Every dbt rule's unit tests (hand-computed rows) and the data tests, on an empty warehouse."""

import json

from orchestration.lib.devdb import create_empty
from tests.conftest import DBT_DIR, dbt


def test_dbt_unit_and_data_tests_pass(tmp_path):
    warehouse = tmp_path / "journey.duckdb"
    create_empty(warehouse.with_name(warehouse.name + ".build"))
    # Models first (empty), as dbt requires: unit tests of incremental models read their own relation (`this`).
    built = dbt("build", "--exclude-resource-type", "unit_test", warehouse=warehouse)
    assert built.returncode == 0, built.stdout[-6000:] + built.stderr[-2000:]
    tested = dbt("test", "--select", "test_type:unit", warehouse=warehouse)
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-2000:]
    run = json.loads((DBT_DIR / "target" / "run_results.json").read_text())
    unit = [r for r in run["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 60, f"only {len(unit)} dbt unit tests ran"
    assert all(r["status"] == "pass" for r in unit), [r["unique_id"] for r in unit if r["status"] != "pass"]
