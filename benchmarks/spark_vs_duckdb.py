"""The same dbt project on DuckDB and on Spark local mode, one full build each, same data, same machine (issue 17).

    .venv/bin/python benchmarks/spark_vs_duckdb.py --people 100000 [--days 150] [--work /tmp/bench]

1. generates the exports once (`journey generate`, cached under WORK/data, as run_benchmarks.py does);
2. DuckDB: `journey run` into a fresh warehouse (the whole pipeline), with dbt's own elapsed time from its
   run_results.json;
3. Spark: the raw tables copied from that warehouse (orchestration/lib/spark_raw.py, the stand-in for Spark
   ingestion), `dbt seed` and `dbt run` with the `spark` target (.venv-spark), and the prediction step on that build
   (orchestration/lib/spark_predict.py), each timed;
4. compares every table (orchestration/lib/spark_compare.py) and prints one JSON document: the timings, dbt's
   slowest Spark models, and how many tables are equal.

Nothing is written inside the repository. Needs `.venv-spark` (`make test-spark` creates it) and Java 17.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_benchmarks import DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START, DEFAULT_WORK, ensure_data, fresh  # noqa: E402
from orchestration.lib.spark_compare import compare_warehouses  # noqa: E402
from orchestration.lib.spark_raw import dbt_spark_env  # noqa: E402

VENV = ROOT / ".venv" / "bin"
SPARK_VENV = ROOT / ".venv-spark" / "bin"
DBT_DIR = ROOT / "dbt_project"


def timed(cmd: list[str], log: Path, **kwargs) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed after {seconds:.0f} s; see {log}")
    return seconds


def dbt_run_results(target: Path, top: int = 12) -> dict:
    results = json.loads((target / "run_results.json").read_text())
    slowest = sorted(results["results"], key=lambda r: -r["execution_time"])[:top]
    return {"elapsed_seconds": round(results["elapsed_time"], 1), "nodes": len(results["results"]),
            "slowest": {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in slowest}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--start", default=DEFAULT_START)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()

    data, generated = ensure_data(args.work, args.people, args.days, args.seed, args.start)
    run = fresh(args.work / "spark_vs_duckdb" / data.name)
    duck, spark, logs = run / "duckdb" / "journey.duckdb", run / "spark", run / "logs"
    duck.parent.mkdir()
    spark.mkdir()
    logs.mkdir()
    result: dict = {"data": generated, "people": args.people, "days": args.days, "load_average": os.getloadavg()}

    result["duckdb_journey_run_seconds"] = round(timed(
        [str(VENV / "journey"), "run", "--landing", str(data / "landing"), "--warehouse", str(duck)],
        logs / "duckdb.log", cwd=ROOT), 1)
    result["duckdb_dbt"] = dbt_run_results(duck.with_name(duck.name + ".dbt"))

    env = {**dbt_spark_env(spark, duck), "DBT_TARGET_PATH": str(run / "dbt-target"),
           "DBT_LOG_PATH": str(run / "dbt-target")}
    result["spark_raw_copy_seconds"] = round(timed(
        [str(SPARK_VENV / "python"), "-m", "orchestration.lib.spark_raw", str(duck), str(spark)],
        logs / "spark_raw.log", env=env, cwd=ROOT), 1)
    dbt = [str(SPARK_VENV / "dbt")]
    flags = ["--target", "spark", "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)]
    result["spark_dbt_seed_seconds"] = round(timed(dbt + ["seed", *flags], logs / "spark_seed.log", env=env,
                                                   cwd=DBT_DIR), 1)
    result["spark_dbt_run_seconds"] = round(timed(dbt + ["run", *flags], logs / "spark_run.log", env=env,
                                                  cwd=DBT_DIR), 1)
    result["spark_dbt"] = dbt_run_results(run / "dbt-target")
    result["spark_prediction_seconds"] = round(timed(
        [str(SPARK_VENV / "python"), "-m", "orchestration.lib.spark_predict", str(spark)],
        logs / "spark_predict.log", env=env, cwd=ROOT), 1)

    comparisons = compare_warehouses(duck, spark)
    result["tables_compared"] = len(comparisons)
    result["tables_equal"] = sum(c.equal for c in comparisons)
    result["tables_not_equal"] = [c.describe() for c in comparisons if not c.equal]
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
