"""Every dbt rule's unit tests (hand-computed rows), and every data test on the built sample warehouse."""

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.devdb import create_empty
from tests.helpers import copy_warehouse, dbt, query

pytestmark = pytest.mark.slow


def results(target: Path) -> list[dict]:
    return json.loads((target / "run_results.json").read_text())["results"]


def dbt_target(warehouse: Path) -> Path:
    """Where the pipeline's dbt step keeps this warehouse's artifacts and parse state (the scratch warehouse keeps the
    state between tests: dbt parses again only what changed)."""
    return warehouse.with_name(warehouse.name + ".dbt")


def test_dbt_models_build_on_an_empty_warehouse_and_unit_tests_pass(scratch):
    """The first night of a new warehouse (no exports yet) builds every model, and every unit test passes."""
    warehouse = scratch
    create_empty(warehouse.with_name(warehouse.name + ".build"))
    # Models first (empty), as dbt requires: unit tests of incremental models read their own relation (`this`).
    built = dbt("build", "--exclude-resource-type", "unit_test", warehouse=warehouse, target=dbt_target(warehouse))
    assert built.returncode == 0, built.stdout[-6000:] + built.stderr[-2000:]
    (dbt_target(warehouse) / "run_results.json").unlink()  # the next invocation's results, not these, are read below
    tested = dbt("test", "--select", "test_type:unit", warehouse=warehouse, target=dbt_target(warehouse))
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-2000:]
    unit = [r for r in results(dbt_target(warehouse)) if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 60, f"only {len(unit)} dbt unit tests ran"
    assert all(r["status"] == "pass" for r in unit), [r["unique_id"] for r in unit if r["status"] != "pass"]


def test_dbt_data_tests_pass_on_the_built_sample_warehouse(sample_build, scratch):
    """The data tests (keys, relationships, accepted values, reconciliations) on the marts of the bundled sample,
    where they have rows to judge: each test counts the rows that break it, and none does."""
    published = scratch
    copy_warehouse(sample_build.warehouse, published.with_name(published.name + ".build"))  # dbt reads `.build`
    tested = dbt("test", "--exclude", "test_type:unit", warehouse=published, target=dbt_target(published))
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-2000:]
    data = [r for r in results(dbt_target(published)) if r["unique_id"].startswith("test.")]
    assert len(data) >= 150, f"only {len(data)} dbt data tests ran"
    assert all(r["status"] == "pass" and r["failures"] == 0 for r in data), \
        [r["unique_id"] for r in data if r["status"] != "pass"]


def test_seeds_whose_columns_changed_load_into_a_warehouse_built_before(sample_build, scratch):
    """A new version of the project may add a column to a seed (as identity_identifier_types gained
    max_devices_per_value); the next night on a warehouse built by the old version still loads it."""
    published = scratch
    build = copy_warehouse(sample_build.warehouse, published.with_name(published.name + ".build"))
    con = duckdb.connect(str(build))
    con.execute("alter table reference.identity_identifier_types drop column max_devices_per_value")
    con.execute("alter table reference.journey_currency_rates add column retired_column varchar")
    con.close()
    seeded = dbt("seed", warehouse=published, target=dbt_target(published))
    assert seeded.returncode == 0, seeded.stdout[-6000:] + seeded.stderr[-2000:]
    columns = {name for (name,) in query(build, "select column_name from information_schema.columns "
                                                "where table_name = 'identity_identifier_types'")}
    assert "max_devices_per_value" in columns
    assert not query(build, "select column_name from information_schema.columns where column_name = 'retired_column'")
    assert query(build, "select max_devices_per_value from reference.identity_identifier_types "
                        "where identifier_type = 'order_id'") == [(1,)]


def test_the_definitions_parse_state_serves_a_warehouse_of_the_same_name_in_any_folder(tmp_path):
    """When the definitions parse the project themselves (`dagster dev` on every load, or a manifest older than a
    dbt file), the parse state they leave serves the next build of a warehouse named journey.duckdb in any folder,
    as `make parse`'s does. (dagster-dbt's own preparer parsed with plain dbt and no build file: each run after it
    parsed the whole project again, "profile has changed".) A warehouse of another name is another database name
    in every node of the manifest: it must parse again (orchestration/lib/dbt_cli.py)."""
    from dagster_dbt import DbtProject

    from orchestration.defs.dbt.project import DBT_PROJECT_DIR, JourneyPreparer

    state = tmp_path / "project-target"
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=state)
    JourneyPreparer().prepare(project)
    assert (state / "manifest.json").exists() and (state / "partial_parse.msgpack").exists()

    def parse_log(name: str) -> str:
        warehouse = tmp_path / f"{name}-folder" / name
        warehouse.parent.mkdir()
        target = tmp_path / f"{name}-target"
        target.mkdir()
        (target / "partial_parse.msgpack").write_bytes((state / "partial_parse.msgpack").read_bytes())
        parsed = dbt("parse", warehouse=warehouse, target=target)
        assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-2000:]
        log = (target / "dbt.log").read_text()
        assert "Running with dbt" in log
        return log

    same_name = parse_log("journey.duckdb")
    assert "profile has changed" not in same_name and "Starting full parse" not in same_name, same_name[:3000]
    other_name = parse_log("shop.duckdb")
    assert "profile has changed" in other_name, other_name[:3000]
    manifest = json.loads((tmp_path / "shop.duckdb-target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.customer_journey.dim_customers"]["database"] == "shop"


def test_touchpoints_reconciliation_fails_on_a_lost_touchpoint(sample_build, scratch):
    """assert_touchpoints_reconcile_with_staging counts the staged rows of the event sources (one per key) and the
    distinct keys of orders and CRM contacts (several versions per key): a touchpoint lost from either kind is found."""
    published = scratch
    build = copy_warehouse(sample_build.warehouse, published.with_name(published.name + ".build"))
    con = duckdb.connect(str(build))
    for source in ("web_events", "orders"):
        con.execute("delete from marts.fct_touchpoints where touchpoint_id = (select min(touchpoint_id) "
                    "from marts.fct_touchpoints where source_name = ?)", [source])
    con.close()
    tested = dbt("test", "--select", "assert_touchpoints_reconcile_with_staging", warehouse=published,
                 target=dbt_target(published))
    assert tested.returncode != 0
    [result] = [r for r in results(dbt_target(published)) if r["unique_id"].startswith("test.")]
    assert result["status"] == "fail" and result["failures"] == 2, result
