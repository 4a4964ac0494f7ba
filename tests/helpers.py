"""Helpers shared by the tests: dbt with a private target folder, warehouse copies, table snapshots."""

from __future__ import annotations

import csv
import gzip
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import duckdb
import jinja2
import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, key_for_warehouse
from orchestration.lib.devdb import TEST_CUSTOMER_ID_KEY
from orchestration.lib.privacy import key_path

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
SAMPLE_LANDING = ROOT / "seeds" / "landing"
SAMPLE_TRUTH = ROOT / "seeds" / "truth"
PARTIAL_PARSE = "partial_parse.msgpack"


MACRO_BLOCK = re.compile(r"{%-?\s*macro\s+(\w+).*?{%-?\s*endmacro\s*-?%}", re.DOTALL)


class DbtCompilerError(Exception):
    """What `exceptions.raise_compiler_error` raises in macros rendered by `dbt_macros`."""


class _MacroReturn(Exception):  # noqa: N818 (dbt's name: not an error, a macro's `return`)
    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value


def dbt_macros(engine: str, *files: str, **context) -> SimpleNamespace:
    """The project's macros in `files` (under dbt_project/macros), rendered by Jinja as dbt renders them for `engine`
    ('duckdb' or 'spark'): the macros themselves, not copies. As in dbt, only the files' macro blocks are read, each
    macro is a template of its own that finds the others by name, and `return(value)` ends a macro with that value;
    `adapter.dispatch`, `target.type`, `modules.re`, `exceptions.raise_compiler_error` (DbtCompilerError) are given,
    and `context` adds the rest a macro needs (`this`, `execute`, `dbt.is_incremental`, ...). Returns the macros as
    attributes."""
    blocks = {name: block for file in files
              for block, name in ((m.group(0), m.group(1)) for m in MACRO_BLOCK.finditer((DBT_DIR / "macros" / file).read_text()))}
    made: dict[str, Callable] = {}

    def named(name: str) -> Callable:
        def call(*args, **kwargs):
            try:
                return made[name](*args, **kwargs)
            except _MacroReturn as returned:
                return returned.value
        return call

    def dispatch(name: str) -> Callable:
        return named(f"{engine}__{name}" if f"{engine}__{name}" in blocks else f"default__{name}")

    def returned(value: object) -> None:
        raise _MacroReturn(value)

    def raise_compiler_error(message: str) -> None:
        raise DbtCompilerError(message)

    names = {name: named(name) for name in blocks}
    namespace = {"return": returned, "adapter": SimpleNamespace(dispatch=dispatch), "target": {"type": engine},
                 "modules": SimpleNamespace(re=re), "exceptions": SimpleNamespace(raise_compiler_error=raise_compiler_error),
                 **context, **names}
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    for name, block in blocks.items():
        made[name] = getattr(environment.from_string(block).make_module(namespace), name)
    return SimpleNamespace(**names)


def dbt(*args: str, warehouse: Path | None = None, target: Path | None = None) -> subprocess.CompletedProcess:
    """Run the dbt beside this Python against `warehouse` (dbt writes `<warehouse>.build`).

    Every invocation writes its artifacts and logs to its own folder (`target`, default a new temporary one), so
    tests can run dbt at the same time; the project's partial-parse state is copied there first, as dagster-dbt
    does, so dbt does not parse the whole project again when the profile is the same."""
    env = dict(os.environ)
    if warehouse is not None:
        env["JOURNEY_BUILD_WAREHOUSE"] = str(warehouse.with_name(warehouse.name + ".build"))
    # the customer-id key, as the pipeline's dbt step sets it: the warehouse's own (from its privacy key) when it has
    # one, else the fixed test key the unit tests' expected ids are computed with
    own = key_for_warehouse(warehouse, create=False) if warehouse is not None else None
    env[CUSTOMER_ID_KEY_ENV] = own or TEST_CUSTOMER_ID_KEY
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="dbt-target-"))
    target.mkdir(parents=True, exist_ok=True)
    state = DBT_DIR / "target" / PARTIAL_PARSE
    if state.exists() and not (target / PARTIAL_PARSE).exists():
        shutil.copyfile(state, target / PARTIAL_PARSE)
    env["DBT_TARGET_PATH"] = env["DBT_LOG_PATH"] = str(target)
    exe = Path(sys.executable).parent / "journey-dbt"  # the pipeline's dbt (orchestration/lib/dbt_cli.py)
    return subprocess.run(
        [str(exe), *args, "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False,
    )


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this session sees (the base temp folder of the session, not of one worker)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@dataclass(frozen=True)
class BuiltWarehouse:
    """A landing folder and the warehouse one `journey run` published from it, with that run's summary."""

    landing: Path
    warehouse: Path
    summary: object  # orchestration.runner.RunSummary (None when the warehouse was built by the command)
    stdout: str = ""  # what the command printed, when it was built by `journey run`
    stderr: str = ""


def built_once(factory: pytest.TempPathFactory, name: str, build) -> BuiltWarehouse:
    """`build(root) -> BuiltWarehouse` run once per session under a lock; later callers get its result."""
    root = shared_folder(factory) / name
    with FileLock(str(root) + ".lock"):
        done = root / "built.pickle"
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # a build that failed half-way in this session: try again, show its error
            root.mkdir(parents=True)
            built = build(root)
            done.write_bytes(pickle.dumps(built))
        return pickle.loads(done.read_bytes())


def scratch_warehouse(factory: pytest.TempPathFactory) -> Path:
    """The published path of this worker's scratch warehouse, emptied: for a test that runs the pipeline or dbt on a
    private copy and needs nothing of it afterwards (tests/conftest.py's `scratch` fixture).

    Its path is the same for every test of a worker (tests of one worker run one after another), so dbt finds the
    parse state the previous test left in `<warehouse>.dbt/` and parses only what changed: dbt keys that state on the
    profile, which holds the build file's path, so a warehouse at a new path costs a full parse (about 6 s of CPU).
    Everything else of the previous test is removed."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = shared_folder(factory) / f"scratch-{worker}"
    warehouse = root / "warehouse" / "journey.duckdb"
    state = warehouse.with_name(warehouse.name + ".dbt") / PARTIAL_PARSE
    kept = state.read_bytes() if state.exists() else None
    shutil.rmtree(root, ignore_errors=True)
    warehouse.parent.mkdir(parents=True)
    if kept is not None:
        state.parent.mkdir()
        state.write_bytes(kept)
    return warehouse


def copy_warehouse(source: Path, target: Path) -> Path:
    """A private copy of a published warehouse file (a test may run on it, or break it), with its privacy key when it
    has one: a run on the copy then gives new people the ids a run on the original would (keyed ids)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    copy_key(source, target)
    return target


def copy_key(source: Path, target: Path) -> None:
    """The privacy key of warehouse `source` (`<source>.key`, when there is one) beside warehouse `target`."""
    if key_path(source).exists():
        shutil.copyfile(key_path(source), key_path(target))
        os.chmod(key_path(target), 0o600)


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Every row of one query on a warehouse file, opened read-only and closed again (a reader holds no lock)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def count_records(path: Path) -> int:
    """Records in an export file, counted independently of DuckDB (the 'rows in' of the books)."""
    from orchestration.lib.ingest import file_suffix

    suffix = file_suffix(path)
    if suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if suffix.startswith(".jsonl"):
            return sum(1 for line in handle if line.strip())
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def snapshot(warehouse: Path) -> dict[str, tuple]:
    """Row count and an order-independent content hash of every table readers see."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'quarantine', 'staging', 'marts') order by 1, 2"
        ).fetchall()
        out = {}
        for schema, name in tables:
            cols = [r[0] for r in con.execute(f'describe "{schema}"."{name}"').fetchall() if r[0] not in ("_loaded_at", "_load_id")]
            col_sql = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{name}"] = con.execute(
                f'select count(*), coalesce(sum(hash(row({col_sql}))), 0) from "{schema}"."{name}"'
            ).fetchone()
        return out
    finally:
        con.close()


def resource_for(build: Path, reports: Path | None = None):
    """The warehouse resource of a run whose build file is `build` (named `<published>.build`)."""
    from orchestration.defs.resources import WarehouseResource

    assert build.name.endswith(".build"), f"{build}: a build file is named <published warehouse>.build"
    return WarehouseResource(warehouse_path=str(build)[: -len(".build")], landing_dir=str(build.parent),
                             reports_dir=str(reports or ""))


# --- Spark's executors, in this process -------------------------------------------------------------------------

class _Tasks:
    """An RDD of `items`: map runs each task here, its argument and result through pickle as Spark ships them."""

    def __init__(self, items, slices):
        self.items, self.slices = list(items), slices

    def map(self, task):
        return _Tasks([pickle.loads(pickle.dumps(task(pickle.loads(pickle.dumps(item))))) for item in self.items],
                      self.slices)

    def collect(self):
        return self.items


class _Context:
    def __init__(self, cores: int):
        self.defaultParallelism = cores
        self.jobs: list[int] = []  # the slices of each job

    def parallelize(self, items, slices):
        assert 1 <= slices <= max(1, len(items))
        self.jobs.append(slices)
        return _Tasks(items, slices)


class FakeSpark:
    """What orchestration/spark_ingest.py uses of a SparkSession: `sparkContext` with `defaultParallelism` and
    `parallelize(...).map(...).collect()`."""

    def __init__(self, cores: int = 3):
        self.sparkContext = _Context(cores)


def duckdb_raw_gates_step(books: Path, spark_warehouse: Path, reports: Path) -> dict[str, list]:
    """What the Spark step `raw_gates` returns, judged and counted by DuckDB instead (tests/test_spark_raw_gates.py
    shows the two agree): the raw suite of each source on views `staged.<source>` of the books over the staged raw
    files (the books' empty raw table where none is staged), and the staged quarantined rows per load and rule."""
    import logging
    from types import SimpleNamespace

    from orchestration.defs.quality.checks import check_raw_source
    from orchestration.lib.ingest import sql_list
    from orchestration.spark_ingest import staged_files
    from rules.contract import SOURCES

    counted = []
    con = duckdb.connect(str(books))
    try:
        con.execute("create schema if not exists staged")
        for source in SOURCES:
            files = [str(f) for f in staged_files(spark_warehouse, "raw", source)]
            rows = f"read_parquet({sql_list(files)}, union_by_name = true)" if files else f"raw.{source}"
            con.execute(f"create or replace view staged.{source} as select * from {rows}")
            quarantined = [str(f) for f in staged_files(spark_warehouse, "quarantine", source)]
            if quarantined:
                counted += con.execute(f"select _load_id, _rule, count(*) from read_parquet({sql_list(quarantined)}, "
                                       "union_by_name = true) group by all").fetchall()
    finally:
        con.close()
    context = SimpleNamespace(log=logging.getLogger("journey.tests.gates"))
    suites = []
    for source in SOURCES:
        result = check_raw_source(context, source, books, reports, table=f"staged.{source}")
        failed = result.metadata.get("failed_expectations")
        suites.append({"name": f"raw_{source}_quality", "asset": f"raw/{source}", "passed": result.passed,
                       "detail": str(result.description or ""), "expectations": failed.value if failed is not None else []})
    return {"suites": suites, "quarantined": sorted(list(row) for row in counted)}
