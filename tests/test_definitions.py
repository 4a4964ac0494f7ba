"""The Dagster definitions load and show what `dagster dev` users rely on: assets, gates, partitions, automation."""

import os
from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from orchestration.cli import build_parser, main
from orchestration.defs.partitions import first_export_date, landed_dates, partition_range_tags
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
    assert {"marts/fct_touchpoints", "marts/dim_customers", "marts/customer_360", "marts/customer_predictions",
            "marts/prediction_model_parameters", "marts/prediction_backtest"} <= upstream
    # the prediction step runs after the marts it reads; customer_360 is a view of its table, built in the same dbt
    # build as the others (one dbt step: no dependency on the step that would split it in two), whose gate waits
    assert dg.AssetKey(["marts", "customer_predictions"]) not in graph.get(
        dg.AssetKey(["marts", "customer_360"])).parent_keys
    from orchestration.defs.dbt.assets import DBT_ASSETS

    assert [a.op.name for a in DBT_ASSETS] == ["journey_dbt_models"]
    assert dg.AssetKey(["intermediate", "int_customers__purchase_days"]) in graph.get(
        dg.AssetKey(["marts", "customer_predictions"])).parent_keys


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
    (tmp_path / "landing" / "orders").mkdir(parents=True)
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
    # the run's one dbt build gets it
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


def test_a_folder_without_source_folders_is_an_error_naming_what_was_found(tmp_path, capsys):
    """`journey run --landing seeds` (the folder above the landing) names what it found and what it expected, and
    points at the landing folder inside; nothing is built or published."""
    seeds = tmp_path / "seeds"
    (seeds / "landing" / "orders" / "2026-09-01").mkdir(parents=True)
    (seeds / "truth").mkdir()
    (seeds / "README.txt").write_text("sample")
    warehouse = tmp_path / "w" / "journey.duckdb"
    assert main(["run", "--landing", str(seeds), "--warehouse", str(warehouse)]) == 2
    out = capsys.readouterr().out
    assert "holds none of the source folders: found README.txt, landing/, truth/" in out
    assert all(source in out for source in SOURCES)
    assert f"did you mean --landing {seeds / 'landing'}?" in out
    assert not warehouse.exists() and not warehouse.with_name("journey.duckdb.build").exists()
    assert main(["backfill", "--from", "2026-09-01", "--to", "2026-09-01", "--landing", str(tmp_path / "truth_only"),
                 "--warehouse", str(warehouse)]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_a_first_run_that_loads_nothing_publishes_nothing(tmp_path):
    """The publish step refuses a first warehouse into which no export file was loaded (every check passes on
    zero rows); once a file is registered, it publishes."""
    from orchestration.defs.publish.assets import published_warehouse
    from orchestration.lib.warehouse import connect, ensure_tables
    from tests.helpers import resource_for

    published = tmp_path / "w" / "journey.duckdb"
    build = published.with_name("journey.duckdb.build")
    build.parent.mkdir()
    con = connect(str(build))
    ensure_tables(con)
    con.close()
    resources = {"warehouse": resource_for(build)}
    result = dg.materialize([published_warehouse], resources=resources, raise_on_error=False)
    assert not result.success and not published.exists() and build.exists()
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "nothing published: this first run loaded no export file" in failure
    con = connect(str(build))
    con.execute("insert into ops.loaded_files (file_sha256, source, status) values ('x', 'orders', 'loaded')")
    con.close()
    assert dg.materialize([published_warehouse], resources=resources).success
    assert published.exists() and not build.exists()


def test_partitions_start_at_the_oldest_export_folder(tmp_path, monkeypatch):
    """History older than 2020 needs no setting: the first partition is the landing's oldest export folder;
    JOURNEY_FIRST_EXPORT_DATE still overrides it, and a range before the override is refused naming it."""
    from orchestration.definitions import NIGHTLY_JOB, build_definitions

    monkeypatch.delenv("JOURNEY_FIRST_EXPORT_DATE", raising=False)
    for source, day in (("orders", "2015-03-02"), ("reviews", "2016-01-01"), ("orders", "2026-09-01")):
        (tmp_path / source / day).mkdir(parents=True)

    def first_partition(landing):
        job = build_definitions(warehouse=tmp_path / "w.duckdb", landing=landing).resolve_job_def(NIGHTLY_JOB)
        return job.partitions_def.get_first_partition_key()

    assert first_export_date(tmp_path) == date(2015, 3, 2) and first_partition(tmp_path) == "2015-03-02"
    assert partition_range_tags(date(2015, 3, 2), date(2026, 9, 1), first_export_date(tmp_path))
    recent = tmp_path / "recent"
    (recent / "orders" / "2026-09-01").mkdir(parents=True)
    assert first_partition(recent) == "2020-01-01"  # the default stays the start for newer data
    monkeypatch.setenv("JOURNEY_FIRST_EXPORT_DATE", "2018-06-01")
    assert first_partition(tmp_path) == "2018-06-01"
    with pytest.raises(ValueError, match="JOURNEY_FIRST_EXPORT_DATE is set"):
        partition_range_tags(date(2015, 3, 2), date(2026, 9, 1), first_export_date(tmp_path))


@pytest.mark.slow
def test_definitions_load_without_the_venv_on_path(tmp_path):
    """`make dev` without an activated virtual environment: `dagster` loads the code location in a process whose
    PATH lacks .venv/bin, and the dbt resource runs the project's own dbt (beside this Python), not one on PATH.
    Loading the definitions uses nothing Dagster has deprecated (a deprecation our code triggers is an error here:
    `partitions_def` of `define_asset_job` was one, to be removed in Dagster 2.0)."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import ROOT

    bin_dir = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != bin_dir.resolve())
    env = {**os.environ, "PATH": path or "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    validate = subprocess.run([str(bin_dir / "dagster"), "definitions", "validate", "-m", "orchestration.definitions"],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert validate.returncode == 0, validate.stdout[-3000:] + validate.stderr[-3000:]
    code = ("import warnings\n"
            "warnings.filterwarnings('error', category=DeprecationWarning, module=r'orchestration\\.')\n"
            "from orchestration.definitions import defs\n"
            "print(defs.resources['dbt'].dbt_executable)\n")
    probe = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert Path(probe.stdout.strip().splitlines()[-1]) == bin_dir / "journey-dbt"


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_counts_files_models_and_gates(defs, terminal):
    """What `journey run` shows while it runs: each source once (a range of export dates materializes it once per
    date), dbt models of their total (by quarters in a log, in place on a terminal), each group of checks, a failed
    check at once."""
    import io

    from orchestration.defs.dbt.assets import DBT_ASSETS
    from orchestration.progress import Progress

    class Stream(io.StringIO):
        def isatty(self):
            return terminal

    stream = Stream()
    progress = Progress(stream, defs, DBT_ASSETS)
    for _ in range(3):
        progress._materialized(dg.AssetKey(["raw", "orders"]), {"files_new": dg.MetadataValue.int(2),
                                                                "files_already_loaded": 1, "rows_read": 1234,
                                                                "rows_quarantined": 5})
    models = [k for a in DBT_ASSETS for k in a.keys if k.path[0] in ("staging", "intermediate", "marts")]
    assert dg.AssetKey(["marts", "customer_360"]) in models
    for key in models:
        progress._materialized(key, {})
    # the prediction step's tables are no dbt models: a line of their own
    progress._materialized(dg.AssetKey(["marts", "customer_predictions"]), {"customers": 773})
    raw_checks = [k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key.path[0] == "raw"]
    for i, key in enumerate(raw_checks):
        progress._checked(key, passed=i != 0)
    progress.close()
    text = stream.getvalue()
    lines = [line.rsplit("\r\x1b[2K", 1)[-1] for line in text.split("\n") if line]
    assert sum("loaded orders: 2 of 3 files new, 1,234 rows read, 5 quarantined" in line for line in lines) == 1
    assert any(line.endswith(f"dbt models built: {len(models)} of {len(models)}") for line in lines), text
    assert any(line.endswith("predicted purchases of 773 customers") for line in lines), text
    assert len(raw_checks) == 24 and any(line.endswith("raw gates: 24 of 24 done, 1 failed") for line in lines)
    assert sum("check FAILED: raw/" in line for line in lines) == 1
    if terminal:
        assert "\r\x1b[2K" in text  # counters rewrite their line
    else:
        assert "\r" not in text and sum("dbt models built" in line for line in lines) == 4  # each quarter


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_run_instance_keeps_the_runs_lifecycle_but_not_its_asset_events():
    """`journey run`'s instance (orchestration/defs/instance.py) stores no asset event, such as Dagster's planned row
    per export date and check, yet the run's result and the instance's listeners still see every event."""
    from orchestration.defs.instance import run_instance

    days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-06")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def batch(context) -> None:
        context.log.info(f"{len(context.partition_keys)} export dates")

    @dg.asset_check(asset=batch, blocking=True)
    def batch_is_fine():
        return dg.AssetCheckResult(passed=True)

    job = dg.define_asset_job("j", partitions_def=days).resolve(
        asset_graph=dg.Definitions(assets=[batch], asset_checks=[batch_is_fine]).resolve_asset_graph())
    tags = partition_range_tags(date(2026, 1, 1), date(2026, 1, 5))
    key = dg.AssetCheckKey(dg.AssetKey("batch"), "batch_is_fine")

    def run(instance):
        seen = []
        run_id = "0" * 8 + "-0000-0000-0000-" + "0" * 12
        instance.add_event_listener(run_id, lambda event: seen.append(event.dagster_event_type))
        result = job.execute_in_process(instance=instance, tags=tags, run_id=run_id)
        assert result.success and [e.passed for e in result.get_asset_check_evaluations()] == [True]
        assert len(result.get_asset_materialization_events()) == 5  # one per export date
        assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in seen and dg.DagsterEventType.RUN_SUCCESS in seen
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        stored = {r.event_log_entry.dagster_event_type for r in instance.get_records_for_run(run_id, limit=1000).records}
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        return sorted(r.status.value for r in history), stored

    with dg.DagsterInstance.ephemeral() as plain:
        # Dagster's own behaviour: a planned row per export date, left "PLANNED" after the check passed
        history, stored = run(plain)
        assert history == ["PLANNED"] * 5 + ["SUCCEEDED"] and dg.DagsterEventType.ASSET_MATERIALIZATION in stored
    with run_instance() as instance:
        history, stored = run(instance)
        assert history == [] and dg.DagsterEventType.STEP_SUCCESS in stored
        assert not stored & {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION}


def test_the_dbt_step_starts_no_second_dbt_just_to_learn_its_version(defs, monkeypatch):
    """dagster-dbt asks `dbt --version` in a subprocess every run (a Python start that imports dbt) and opens a dbt
    adapter it only needs for row counts and column metadata; the project's resource knows the version from the
    installed dbt-core and opens no adapter."""
    import importlib.metadata
    import subprocess

    from dagster_dbt import DbtCliResource

    resource = defs.resources["dbt"]
    assert isinstance(resource, DbtCliResource)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_subprocess, raising=False)
    assert str(resource._cli_version) == importlib.metadata.version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_a_manifest_older_than_a_file_of_the_dbt_project_is_parsed_again(tmp_path):
    """After a pull that adds a dbt test or model, a manifest parsed before it would stop the run on a node it does
    not know: the definitions parse again when any project file is newer than the manifest (target/ and logs/ are
    dbt's own output and do not count)."""
    from orchestration.defs.dbt.project import manifest_is_stale

    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model = project / "models" / "m.sql"
    model.write_text("select 1")
    manifest = project / "target" / "manifest.json"
    assert manifest_is_stale(project, manifest)  # missing
    manifest.write_text("{}")
    os.utime(model, (1_000, 1_000))
    os.utime(manifest, (2_000, 2_000))
    assert not manifest_is_stale(project, manifest)
    (project / "target" / "run_results.json").write_text("{}")  # dbt's own output, newer: not a change
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("")
    assert not manifest_is_stale(project, manifest)
    os.utime(model, (3_000, 3_000))  # the model changed after the parse
    assert manifest_is_stale(project, manifest)
    os.utime(model, (1_000, 1_000))
    (project / "tests").mkdir()
    (project / "tests" / "assert_new.sql").write_text("select 1 where false")  # a new singular test
    assert manifest_is_stale(project, manifest)


def test_no_module_imports_dagsters_private_modules():
    """Dagster's underscore modules change without notice between releases: the project uses its public API only."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(root)}:{number}"
                 for folder in ("orchestration", "expectations", "rules", "generator", "benchmarks", "tests")
                 for path in sorted((root / folder).rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if line.lstrip().startswith(("from dagster", "import dagster")) and "dagster._" in line]
    assert offenders == []
