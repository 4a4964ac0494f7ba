"""`journey run --engine spark` and `journey backfill --engine spark`: the nightly pipeline on Apache Spark.

The same steps as the DuckDB run, in the same order, and the same summary (docs/spark.md):

1. **Ingestion** by Spark's executors with the DuckDB pipeline's own code (orchestration/spark_ingest.py runs
   orchestration/lib/ingest.py's `load_files` in the tasks), so the rules and the books (rows read = loaded +
   quarantined per file, checksums, duplicates) are the same by construction. The books go into a small DuckDB
   file, `<warehouse>/books.duckdb`, copied to `books.duckdb.build` for the run; the rows into `<warehouse>/staging`.
   Then the **raw gates** of orchestration/defs/quality: the reject-rate and volume gates on the books (DuckDB),
   and each source's raw suite on the staged rows, counted by Spark SQL where the files are (spark_steps
   `raw_gates`); a failed gate stops the run here, and the next run loads the same files again.
2. **Shipping**: the staged raw and quarantined rows go to Spark's `raw.<source>` and `quarantine.<source>`, a
   partition per load (orchestration/spark_steps.py `ship`); then the books replace the previous books and the
   staging folder is emptied. Raw history lives in Spark only.
3. **dbt** builds the seeds and every model on Spark (`--target spark`) into the run's generation of schemas
   (`marts__g7`, ...).
4. **Prediction, mart gates, publishing** (spark_steps `finish`): the readers' views `marts.<table>` point at the
   generation only when every mart gate passed.

Everything lives under the Spark warehouse folder (`--warehouse`, else JOURNEY_SPARK_WAREHOUSE, else
warehouse/spark): the books, Spark's tables and metastore, generations.json, logs/ and quality_reports/.

The Spark steps need pyspark, which lives in `.venv-spark` (`make spark`), never in `.venv` (docs/spark.md says
why): this module runs in either and starts its Spark steps and dbt with JOURNEY_SPARK_PYTHON, else the current
interpreter when it has pyspark, else `.venv-spark/bin/python`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

import duckdb

from orchestration.lib.paths import PROJECT_ROOT
from orchestration.lib.spark_session import BOOKS, generations
from orchestration.runner import (
    CheckOutcome,
    RunInProgress,
    RunSummary,
    export_date_range,
    read_books,
    run_lock,
    write_run_report,
)

SPARK_WAREHOUSE_ENV = "JOURNEY_SPARK_WAREHOUSE"
SPARK_PYTHON_ENV = "JOURNEY_SPARK_PYTHON"
SCHEMA_SUFFIX_ENV = "JOURNEY_SPARK_SCHEMA_SUFFIX"
PREVIOUS_SUFFIX_ENV = "JOURNEY_SPARK_PREVIOUS_SUFFIX"
ERASURE_FILE = "erasure.json"  # the erasure a run applies, until its generation is published
DBT_DIR = PROJECT_ROOT / "dbt_project"


class SparkSetupError(RuntimeError):
    """What the Spark engine needs and does not find (pyspark's interpreter, Java)."""


def resolve_spark_warehouse(warehouse: Path | None) -> Path:
    if warehouse is not None:
        return warehouse.resolve()
    return Path(os.environ.get(SPARK_WAREHOUSE_ENV) or PROJECT_ROOT / "warehouse" / "spark").resolve()


def spark_python() -> Path:
    """The interpreter that runs the Spark steps and dbt-spark."""
    configured = os.environ.get(SPARK_PYTHON_ENV, "").strip()
    if configured:
        if not Path(configured).is_file():
            raise SparkSetupError(f"{SPARK_PYTHON_ENV}={configured}: no such interpreter")
        return Path(configured)
    if importlib.util.find_spec("pyspark") is not None:
        return Path(sys.executable)
    venv = PROJECT_ROOT / ".venv-spark" / "bin" / "python"
    if venv.exists():
        return venv
    raise SparkSetupError("the Spark engine needs pyspark and dbt-spark, which live in .venv-spark: run `make spark` "
                          f"(or set {SPARK_PYTHON_ENV} to a Python that has the extra `spark`)")


def check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (java_home and (Path(java_home) / "bin" / "java").exists()):
        return
    raise SparkSetupError("the Spark engine needs Java 17 (no `java` on PATH and no JAVA_HOME)")


def next_generation(spark_warehouse: Path) -> int:
    """A number no generation had (`last_generation` keeps the last one started, published or not: a failed build's
    schemas stay until the next publish drops them)."""
    state = generations(spark_warehouse)
    run_file = spark_warehouse / "last_generation"
    last = int(run_file.read_text().strip()) if run_file.exists() else 0
    generation = max([last, *(g for g in state.values() if g is not None)]) + 1
    run_file.write_text(f"{generation}\n", encoding="utf-8")
    return generation


def execute_spark(landing: Path, warehouse: Path, start: date | None = None, end: date | None = None,
                  progress: TextIO | None = None, full_refresh: bool = False) -> RunSummary:
    """Run the nightly pipeline on Spark over export dates start..end (default: the dates with new files).
    With full_refresh, dbt builds every model of the new generation from raw, as on DuckDB: the incremental ones too
    (staging, identity's records), but the customer-id map and the merge log, which are carried on.

    Never raises for a failed step (the summary says what failed); raises ValueError for a landing folder that holds
    no source folder, SparkSetupError when pyspark or Java is missing, RunInProgress when another run holds the
    warehouse."""
    from orchestration.lib.ingest import IngestError, check_landing

    try:
        check_landing(landing)
    except IngestError as exc:
        raise ValueError(str(exc)) from exc
    python = spark_python()
    check_java()
    warehouse.mkdir(parents=True, exist_ok=True)
    books = warehouse / BOOKS
    with run_lock(books):
        if start is None and end is None:
            start, end = export_date_range(landing, books)
        start, end = start or end, end or start
        summary = _run(landing, warehouse, python, start, end, progress, full_refresh)
    if summary.exit_code == 0:
        write_run_report(summary, engine="spark")
    return summary


def _say(progress: TextIO | None, text: str) -> None:
    if progress is not None:
        print(text, file=progress, flush=True)


def _run(landing: Path, warehouse: Path, python: Path, start: date, end: date, progress: TextIO | None,
         full_refresh: bool = False) -> RunSummary:
    summary = RunSummary(str(uuid.uuid4()), success=False, published=False, warehouse=warehouse)
    logs = warehouse / "logs"
    logs.mkdir(exist_ok=True)
    summary.log_file = logs / "journey-run-latest.log"
    summary.quality_reports = warehouse / "quality_reports" / "index.html"
    _say(progress, f"journey run (spark): export dates {start} to {end} from {landing}")
    with summary.log_file.open("w", encoding="utf-8") as log:
        run = SparkRun(landing, warehouse, python, summary, log)
        steps = _Steps(progress, summary)
        dates = {start + timedelta(days=i) for i in range((end - start).days + 1)}
        if run.erasure_requested() and not steps.run("erase (journey forget)", run.erase):
            return summary
        if not (steps.run("ingest and raw gates", lambda: run.ingest(dates))
                and steps.run("ship to Spark", run.ship) and steps.run("keep the books", run.keep_books)):
            return summary
        generation = next_generation(warehouse)
        for args in (["seed"], dbt_run_args(full_refresh)):
            if not steps.run(f"dbt {args[0]} (generation {generation})", lambda a=args: run.dbt(a, generation)):
                return summary
        if not steps.run("prediction, mart gates, publish", lambda: run.finish(generation)):
            return summary
    summary.success = True
    return summary


def dbt_run_args(full_refresh: bool = False) -> list[str]:
    """dbt's command for a generation's models: `run`, with `--full-refresh` to build the incremental models from raw
    (the persistent ones, `full_refresh=false`, are carried on all the same)."""
    return ["run", *(["--full-refresh"] if full_refresh else [])]


class StepFailed(RuntimeError):
    pass


class _Steps:
    """Runs the steps in order, timing each, and turning a StepFailed into a failure line of the summary."""

    def __init__(self, progress: TextIO | None, summary: RunSummary):
        self.progress, self.summary = progress, summary

    def run(self, name: str, action) -> bool:
        started = time.monotonic()
        _say(self.progress, f"  {name} ...")
        try:
            action()
        except StepFailed as exc:
            self.summary.failures.append(f"{name}: {exc}")
            _say(self.progress, f"  {name} FAILED after {time.monotonic() - started:.1f} s")
            return False
        _say(self.progress, f"  {name} done in {time.monotonic() - started:.1f} s")
        return True


class SparkRun:
    """The steps of one Spark run, in order: erase (when `journey forget` listed someone), ingest, ship, keep_books,
    dbt (seed, run), finish. `journey run --engine spark` runs them in one process; the Dagster assets of the Spark
    engine (orchestration/defs/spark) one per step. Each raises StepFailed with what went wrong; what a step learns
    goes into `summary`; the output of its processes into `log`."""

    def __init__(self, landing: Path, warehouse: Path, python: Path, summary: RunSummary, log: TextIO):
        self.landing, self.warehouse, self.python, self.summary, self.log = landing, warehouse, python, summary, log
        self.books = warehouse / BOOKS
        self.build = self.books.with_name(self.books.name + ".build")
        self.reports = warehouse / "quality_reports"
        self.erasure_file = warehouse / ERASURE_FILE

    def erasure_requested(self) -> bool:
        """Whether the suppression list beside the books holds requests no published generation applied yet."""
        from orchestration.lib.privacy import pending_erasures

        return bool(pending_erasures(self.books))

    def erase(self) -> None:
        """The Spark half of the pending erasures (orchestration/spark_privacy.py); what it did is kept in
        `erasure.json` until the generation that applies it is published. Nothing pending: nothing kept."""
        if not self.erasure_requested():
            self.erasure_file.unlink(missing_ok=True)
            return
        outcome = self.spark_step("erase", str(self.warehouse), str(self.books))
        tmp = self.erasure_file.with_name(self.erasure_file.name + ".tmp")
        tmp.write_text(json.dumps(outcome) + "\n", encoding="utf-8")
        tmp.replace(self.erasure_file)

    def erasure(self):
        """The erasure this run applies (a SparkErasure of requests still pending), or None."""
        from orchestration.lib.privacy import pending_erasures
        from orchestration.spark_privacy import SparkErasure

        if not self.erasure_file.exists():
            return None
        erasure = SparkErasure.from_json(json.loads(self.erasure_file.read_text(encoding="utf-8")))
        pending = {e.request_id for e in pending_erasures(self.books)}
        return erasure if erasure.requests and set(erasure.requests) <= pending else None

    def ingest(self, dates: set[date] | None) -> None:
        """Load the new files of `dates` (None: every date): read by Spark's executors (the rows into the staging
        folder, the books into the books' build file), then judged by the raw gates; a first run that loaded no file
        stops here (an empty warehouse is a wrong landing folder)."""
        _prepare_books(self.books, self.build, self.erasure())
        from orchestration.spark_ingest import dates_argument

        outcome = self.spark_step("read", str(self.books), str(self.build), str(self.landing), str(self.warehouse),
                                  self.summary.run_id, dates_argument(dates))
        if outcome["error"]:
            raise StepFailed(outcome["error"])
        _judge(self.landing, self.build, self.summary, self.raw_step)

    def raw_step(self) -> RawJudged:
        """The raw suite of each source on the staged rows, and the night's quarantined rows per load and rule, both
        counted by Spark where the staged files are (spark_steps `raw_gates`)."""
        return RawJudged.from_step(self.spark_step("raw_gates", str(self.build), str(self.warehouse), str(self.reports)))

    def ship(self) -> None:
        self.spark_step("ship", str(self.build), str(self.warehouse))

    def keep_books(self) -> None:
        _keep_books(self.build, self.books, erasure=self.erasure() is not None)
        from orchestration.spark_ingest import clear_staging

        clear_staging(self.warehouse)  # shipped

    def dbt(self, args: list[str], generation: int) -> None:
        env = _dbt_env(self.warehouse, self.books, generation, carried_without_erased=self.erasure() is not None)
        self._process([str(self.python.parent / "dbt"), *args, "--target", "spark", "--profiles-dir", str(DBT_DIR),
                       "--project-dir", str(DBT_DIR)], env=env, cwd=DBT_DIR)

    def finish(self, generation: int) -> dict:
        """Prediction, mart gates, publishing; the gates and counts go into the summary. Raises StepFailed when a
        gate failed (the generation is then not published)."""
        erasure = self.erasure()
        outcome = self.spark_step("finish", str(self.warehouse), str(generation), str(self.reports),
                                  *(["erasure"] if erasure else []))
        summary = self.summary
        summary.checks += [CheckOutcome(g["name"], g["asset"], g["passed"], True, g["detail"], g["expectations"])
                           for g in outcome["gates"]]
        summary.published = outcome["published"]
        summary.customers, summary.touchpoints = outcome["customers"], outcome["touchpoints"]
        summary.markov = [tuple(r) for r in outcome["markov"]]
        if not summary.published:
            failed = [g["name"] for g in outcome["gates"] if not g["passed"]]
            raise StepFailed(f"mart gate(s) {', '.join(failed)} failed: generation {generation} is not published; "
                             "the readers' views still show the previous one")
        if erasure:  # published: the requests are applied (every other generation was dropped)
            from orchestration.spark_privacy import record_in_books

            try:
                summary.erasures = record_in_books(self.books, erasure, summary.run_id)
            except duckdb.Error as exc:  # e.g. a reader holding the books: the next run applies it again
                raise StepFailed(f"generation {generation} is published without the erased people, but their "
                                 f"requests could not be recorded in {self.books} ({exc}); the next run records "
                                 "them") from exc
            self.erasure_file.unlink()
        return outcome

    def spark_step(self, *args: str) -> dict:
        return _step_result(self._process(_step_command(self.python, *args), env=_step_env()))

    def _process(self, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        self.log.write(f"$ {' '.join(command)}\n")
        self.log.flush()
        result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        self.log.write(result.stdout + result.stderr)
        self.log.flush()
        if result.returncode != 0:
            from orchestration.runner import dbt_errors

            self.summary.failures += dbt_errors(result.stdout)
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise StepFailed(f"exit {result.returncode}: {tail[0][:300]} (log: {self.summary.log_file})")
        return result.stdout


def _dbt_env(warehouse: Path, books: Path, generation: int, carried_without_erased: bool = False) -> dict[str, str]:
    """dbt's environment for building `generation`: its schema suffix, and the published generation's, whose
    customer-id map and merge log the build carries on (macros/generate_schema_name.sql, previous_generation); on
    a run that applies an erasure, their copies without the person (`intermediate__erasure`, `marts__erasure`)."""
    from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, key_for_warehouse
    from orchestration.lib.spark_session import suffix
    from orchestration.spark_privacy import CARRIED_SUFFIX

    target = warehouse / "dbt-target"
    env = {k: v for k, v in os.environ.items() if k != PREVIOUS_SUFFIX_ENV}
    published = generations(warehouse)["published"]
    if published is not None:
        env[PREVIOUS_SUFFIX_ENV] = CARRIED_SUFFIX if carried_without_erased else suffix(published)
    return {**env, SPARK_WAREHOUSE_ENV: str(warehouse), SCHEMA_SUFFIX_ENV: suffix(generation),
            CUSTOMER_ID_KEY_ENV: key_for_warehouse(books, create=True), "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target), "PYTHONPATH": str(PROJECT_ROOT)}


def _prepare_books(books: Path, build: Path, erasure=None) -> None:
    """The books' build file, a copy of the books, with the suppression list and the books' half of an `erasure`
    (a SparkErasure: the removed rows counted as suppressed); ingestion drops rows of an erased person."""
    from orchestration.lib.warehouse import connect, ensure_tables
    from orchestration.spark_privacy import apply_to_books

    for leftover in (build, build.with_name(build.name + ".wal")):
        leftover.unlink(missing_ok=True)
    if books.exists():
        shutil.copyfile(books, build)
    con = connect(str(build))
    try:
        ensure_tables(con)
        apply_to_books(con, books, erasure)
    finally:
        con.close()


# schemas of views an earlier version made in the books' build file (dropped when the books are kept)
STAGED_SCHEMAS = {"raw": "staged", "quarantine": "staged_quarantine"}


@dataclass
class RawJudged:
    """What the step `raw_gates` judged and counted on Spark: each source's raw suite, and the night's quarantined
    rows as (load_id, rule, rows)."""

    suites: list[CheckOutcome]
    quarantined: list[tuple[str, str, int]]

    @classmethod
    def from_step(cls, out: dict) -> RawJudged:
        return cls([CheckOutcome(g["name"], g["asset"], g["passed"], True, g["detail"], g["expectations"])
                    for g in out["suites"]], [(load, rule, int(n)) for load, rule, n in out["quarantined"]])


def _judge(landing: Path, build: Path, summary: RunSummary, raw_step: Callable[[], RawJudged]) -> None:
    """The night's books into the summary, the quarantine reasons as `raw_step()` counted them on Spark (on Spark:
    SparkRun.raw_step), and the raw gates: reject rate and volume on the books, in DuckDB, and the raw suite of each
    source as `raw_step()` judged it. A first run that loaded no file stops before the step."""
    from orchestration.lib.warehouse import connect

    con = connect(str(build))
    try:
        read_books(con, summary, counted=[])  # the reasons once the step has counted them
        files = con.execute("select count(*) from ops.loaded_files").fetchone()[0]
    finally:
        con.close()
    if files == 0:
        raise StepFailed(f"nothing published: this first run loaded no export file from {landing} (its source "
                         "folders hold no export files of the run's dates); check the landing folder")
    judged = raw_step()
    con = connect(str(build))
    try:
        read_books(con, summary, counted=judged.quarantined)
    finally:
        con.close()
    summary.checks += raw_gates(build, judged.suites)
    failed = [c for c in summary.checks if not c.passed]
    if failed:
        raise StepFailed(f"{len(failed)} raw gate(s) failed: nothing was shipped to Spark, the books are unchanged, "
                         "and the next run loads these files again")


def raw_gates(path: Path, suites: list[CheckOutcome]) -> list[CheckOutcome]:
    """The DuckDB pipeline's raw gates on a books file, in the same order: the reject rate and the volume of each
    source, judged on the books here, and its raw suite `raw_<source>_quality`, taken from `suites` (judged on Spark
    by the step `raw_gates`)."""
    from orchestration.defs.quality.batch import judge_reject_rates, judge_volume
    from orchestration.defs.quality.checks import open_read_only
    from rules.contract import SOURCES
    from rules.thresholds import raw_thresholds

    outcomes = []
    for source in SOURCES:
        con = open_read_only(path)
        try:
            for name, judge in (("reject_rate", judge_reject_rates), ("volume", judge_volume)):
                verdict = judge(con, source, raw_thresholds(source))
                outcomes.append(CheckOutcome(f"raw_{source}_{name}", f"raw/{source}", verdict.passed, True,
                                             verdict.description, verdict.failures))
        finally:
            con.close()
        outcomes.append(_suite_of(suites, source))
    return outcomes


def _suite_of(suites: list[CheckOutcome], source: str) -> CheckOutcome:
    """The outcome `raw_<source>_quality` among suites judged elsewhere; a source they lack is an error, never a pass."""
    found = [c for c in suites if c.name == f"raw_{source}_quality"]
    if len(found) != 1:
        raise StepFailed(f"the raw suites judged on Spark hold {len(found)} outcome(s) raw_{source}_quality, not one")
    return found[0]


def _keep_books(build: Path, books: Path, erasure: bool = False) -> None:
    """The shipped rows leave the books (Spark holds them now); the registry stays. Then the build replaces them.
    After an erasure the books file is rewritten, so that no freed block keeps a removed row's field issue."""
    from orchestration.lib.warehouse import compact_database, connect
    from rules.contract import SOURCES

    con = connect(str(build))
    try:
        for views in STAGED_SCHEMAS.values():
            con.execute(f"drop schema if exists {views} cascade")
        for source in SOURCES:
            con.execute(f"delete from raw.{source}")
            con.execute(f"delete from quarantine.{source}")
        con.execute("checkpoint")
    finally:
        con.close()
    if erasure:
        compact_database(str(build))
    build.replace(books)


def rollback_spark(warehouse: Path) -> int:
    """`journey rollback --engine spark`: the readers' views show the previous generation again."""
    if generations(warehouse)["previous"] is None:
        raise FileNotFoundError(f"{warehouse}: no previous generation to roll back to (a Spark warehouse keeps the "
                                "published generation and the one before it)")
    result = subprocess.run(_step_command(spark_python(), "rollback", str(warehouse)), env=_step_env(),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FileNotFoundError((result.stderr.strip() or result.stdout.strip()).splitlines()[-1])
    return _step_result(result.stdout)["published"]


def _step_command(python: Path, *args: str) -> list[str]:
    """A step of orchestration/spark_steps.py, in a process of its own (the Derby metastore admits one JVM)."""
    return [str(python), "-m", "orchestration.spark_steps", *args]


def _step_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def _step_result(stdout: str) -> dict:
    """What a step printed as one JSON object on its last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_spark_pipeline(landing: Path, warehouse: Path | None, start: date | None = None, end: date | None = None,
                       command: str = "journey run", full_refresh: bool = False) -> int:
    from orchestration.runner import format_summary

    try:
        summary = execute_spark(landing, resolve_spark_warehouse(warehouse), start, end, progress=sys.stderr,
                                full_refresh=full_refresh)
    except (RunInProgress, ValueError, SparkSetupError) as exc:
        print(f"{command}: {exc}")
        return 3 if isinstance(exc, RunInProgress) else 2
    with contextlib.suppress(BrokenPipeError):
        print(format_summary(summary))
    return summary.exit_code
