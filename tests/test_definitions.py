"""The Dagster definitions load and show what `dagster dev` users rely on: assets, gates, partitions, automation."""

import os
from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from orchestration.cli import build_parser, main
from orchestration.defs.partitions import landed_dates, partition_range_tags
from orchestration.defs.resources import WarehouseResource
from rules.contract import SOURCES


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import build_definitions

    return build_definitions()


def test_paths_reach_the_run_through_its_resources_only(tmp_path, monkeypatch):
    """`journey run`'s paths win over the variables `dagster dev` reads; the run's build file is derived from the
    published one; nothing is read from or left in the environment."""
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("JOURNEY_WAREHOUSE", str(tmp_path / "from_env.duckdb"))
    monkeypatch.setenv("JOURNEY_LANDING", str(tmp_path / "landing_from_env"))
    before = dict(os.environ)
    given = build_definitions(warehouse=tmp_path / "w" / "journey.duckdb", landing=tmp_path / "landing")
    warehouse = given.resources["warehouse"]
    assert (warehouse.published, warehouse.build, warehouse.landing) == (
        tmp_path / "w" / "journey.duckdb", tmp_path / "w" / "journey.duckdb.build", tmp_path / "landing")
    assert build_definitions().resources["warehouse"].published == tmp_path / "from_env.duckdb"
    monkeypatch.delenv("JOURNEY_WAREHOUSE")
    assert build_definitions().resources["warehouse"].published.parts[-2:] == ("warehouse", "journey.duckdb")
    monkeypatch.setenv("JOURNEY_WAREHOUSE", str(tmp_path / "from_env.duckdb"))
    assert dict(os.environ) == before


def test_definitions_load_with_every_layer(defs):
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {f"raw/{s}" for s in SOURCES} <= keys
    assert {"ops/build_warehouse", "publish/warehouse", "marts/fct_touchpoints", "marts/dim_customers",
            "marts/customer_identifiers", "marts/customer_merges", "marts/fct_attribution", "marts/customer_360",
            "staging/stg_web__events"} <= keys


def test_quality_gates_are_blocking_checks_on_raw_and_marts(defs):
    checks = {}
    for checks_def in defs.asset_checks or []:
        for spec in checks_def.check_specs:
            checks[(spec.asset_key.to_user_string(), spec.name)] = spec.blocking
    for source in SOURCES:
        for name in (f"raw_{source}_quality", f"raw_{source}_reject_rate", f"raw_{source}_volume"):
            assert checks[(f"raw/{source}", name)] is True
    assert checks[("marts/fct_touchpoints", "fct_touchpoints_quality")] is True
    assert checks[("marts/dim_customers", "dim_customers_quality")] is True


def test_publish_waits_for_every_mart_and_raw_asset(defs):
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in graph.get(dg.AssetKey(["publish", "warehouse"])).parent_keys}
    assert {f"raw/{s}" for s in SOURCES} <= upstream
    assert {"marts/fct_touchpoints", "marts/dim_customers", "marts/customer_360"} <= upstream


def test_nightly_job_is_partitioned_by_export_date_with_schedule_and_sensor(defs):
    job = defs.resolve_job_def("nightly")
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)
    assert "2026-09-02" in job.partitions_def.get_partition_keys(current_time=datetime(2026, 11, 1))
    assert [s.name for s in defs.schedules] == ["nightly"]
    assert [s.name for s in defs.sensors] == ["new_export_folders"]


def test_schedule_requests_tonights_partition(defs):
    schedule = defs.resolve_schedule_def("nightly")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 5, 3, 0),
                                       repository_def=defs.get_repository_def())
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-10-05"


def test_sensor_starts_a_run_per_new_or_changed_folder(defs, tmp_path):
    landing = tmp_path / "landing"
    today = date.today()
    for day in (today - timedelta(days=1), today):
        (landing / "orders" / day.isoformat()).mkdir(parents=True)
        (landing / "orders" / day.isoformat() / "orders.csv").write_text("order_id\n1\n")
    sensor = defs.resolve_sensor_def("new_export_folders")
    repo = defs.get_repository_def()
    resources = {"warehouse": WarehouseResource(warehouse_path=str(tmp_path / "journey.duckdb"), landing_dir=str(landing))}
    first = sensor.evaluate_tick(dg.build_sensor_context(cursor=None, repository_def=repo, resources=resources))
    assert sorted(r.partition_key for r in first.run_requests) == [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    unchanged = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor, repository_def=repo,
                                                             resources=resources))
    assert unchanged.run_requests == [] and unchanged.skip_message
    (landing / "orders" / today.isoformat() / "late.csv").write_text("order_id\n2\n")
    changed = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor, repository_def=repo, resources=resources))
    assert [r.partition_key for r in changed.run_requests] == [today.isoformat()]


def test_partition_ranges_are_validated():
    assert partition_range_tags(date(2026, 9, 2), date(2026, 9, 5)) == {
        "dagster/asset_partition_range_start": "2026-09-02", "dagster/asset_partition_range_end": "2026-09-05"}
    with pytest.raises(ValueError, match="before --from"):
        partition_range_tags(date(2026, 9, 5), date(2026, 9, 2))
    with pytest.raises(ValueError, match="JOURNEY_FIRST_EXPORT_DATE"):
        partition_range_tags(date(1999, 1, 1), date(1999, 1, 2))
    with pytest.raises(ValueError, match="future"):
        partition_range_tags(date.today(), date.today() + timedelta(days=30))


def test_landed_dates_come_from_folder_names(tmp_path):
    for source, day in (("orders", "2026-09-03"), ("reviews", "2026-09-01"), ("orders", "2026-09-01")):
        (tmp_path / source / day).mkdir(parents=True)
    (tmp_path / "not_a_source" / "2020-01-01").mkdir(parents=True)
    assert landed_dates(tmp_path) == [date(2026, 9, 1), date(2026, 9, 3)]


def test_cli_rejects_bad_dates_and_missing_landing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["backfill", "--from", "2026-13-01", "--to", "2026-09-02"])
    assert main(["run", "--landing", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().out
    (tmp_path / "landing").mkdir()
    code = main(["backfill", "--from", "2026-09-05", "--to", "2026-09-01", "--landing", str(tmp_path / "landing"),
                 "--warehouse", str(tmp_path / "w.duckdb")])
    assert code == 2 and "before --from" in capsys.readouterr().out


def test_rollback_without_a_previous_version_exits_non_zero(tmp_path, capsys):
    assert main(["rollback", "--warehouse", str(tmp_path / "journey.duckdb")]) == 1
    assert "no previous version" in capsys.readouterr().err


def test_full_refresh_reaches_dbt_only_when_asked(defs):
    from orchestration.defs.dbt.assets import dbt_build_args
    from orchestration.runner import run_config

    assert dbt_build_args() == ["build", "--exclude-resource-type", "unit_test"]
    assert dbt_build_args(full_refresh=True)[-1] == "--full-refresh"
    assert "ops" not in run_config()
    config = run_config(full_refresh=True)
    assert config["ops"] == {"journey_dbt_models": {"config": {"full_refresh": True}}}
    # the nightly job accepts that run config (a wrong op name or field would be rejected here)
    from orchestration.definitions import NIGHTLY_JOB

    job = defs.resolve_job_def(NIGHTLY_JOB)
    dg.validate_run_config(job, config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"journey_dbt_models": {"config": {"full_refreshh": True}}}})
    assert build_parser().parse_args(["run", "--full-refresh"]).full_refresh is True
    assert build_parser().parse_args(["backfill", "--from", "2026-01-01", "--to", "2026-01-02",
                                      "--full-refresh"]).full_refresh is True


@pytest.mark.slow
def test_the_definitions_prepare_a_missing_manifest(tmp_path, monkeypatch):
    """A fresh clone (no dbt_project/target yet) imports the definitions without a `make parse` first."""
    import shutil

    from orchestration.defs.dbt import project

    copy = tmp_path / "dbt_project"
    shutil.copytree(project.DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", copy)
    project.dbt_project.cache_clear()
    try:
        prepared = project.dbt_project()
        assert prepared.manifest_path == copy / "target" / "manifest.json" and prepared.manifest_path.exists()
    finally:
        project.dbt_project.cache_clear()


def test_no_check_is_partitioned_so_a_run_stores_each_planned_check_once(defs):
    """`journey run`'s instance stores the planned event of each check once (orchestration/defs/instance.py);
    that is only right while no check of the code location is partitioned."""
    graph = defs.resolve_job_def("nightly").asset_layer.asset_graph
    assert graph.asset_check_keys and all(graph.get(k).partitions_def is None for k in graph.asset_check_keys)


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_run_instance_plans_a_check_of_a_range_run_once_and_still_records_its_outcome():
    from orchestration.defs.instance import run_instance

    days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-06")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def batch(context) -> None:
        context.log.info(f"{len(context.partition_keys)} export dates")

    @dg.asset_check(asset=batch)
    def batch_is_fine():
        return dg.AssetCheckResult(passed=True)

    job = dg.define_asset_job("j", partitions_def=days).resolve(
        asset_graph=dg.Definitions(assets=[batch], asset_checks=[batch_is_fine]).resolve_asset_graph())
    tags = partition_range_tags(date(2026, 1, 1), date(2026, 1, 5))
    key = dg.AssetCheckKey(dg.AssetKey("batch"), "batch_is_fine")

    def rows(instance):
        result = job.execute_in_process(instance=instance, tags=tags)
        assert result.success
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        return [r.status.value for r in history]

    with dg.DagsterInstance.ephemeral() as plain:
        # Dagster's own behaviour: a planned row per export date, left "PLANNED" after the check passed
        assert sorted(rows(plain)) == ["PLANNED"] * 5 + ["SUCCEEDED"]
    with run_instance() as instance:
        assert rows(instance) == ["SUCCEEDED"]
