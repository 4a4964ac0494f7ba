"""Every dbt rule's unit tests (hand-computed rows) and the data tests, on an empty warehouse."""

import json

from orchestration.lib.devdb import create_empty
from tests.conftest import DBT_DIR, dbt


def test_dbt_unit_and_data_tests_pass(tmp_path):
    warehouse = tmp_path / "journey.duckdb"
    create_empty(warehouse.with_name(warehouse.name + ".build"))
    result = dbt("build", warehouse=warehouse)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    run = json.loads((DBT_DIR / "target" / "run_results.json").read_text())
    unit = [r for r in run["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 30, "the dbt unit tests did not run"
    assert all(r["status"] == "pass" for r in unit), [r["unique_id"] for r in unit if r["status"] != "pass"]
