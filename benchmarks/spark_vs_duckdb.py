"""The whole pipeline on DuckDB and on Spark local mode, one run each into a fresh warehouse, same data, same machine
(issue 17).

    .venv/bin/python benchmarks/spark_vs_duckdb.py --people 100000 [--days 150] [--work /tmp/bench]

1. generates the exports once (`journey generate`, cached under WORK/data, as run_benchmarks.py does);
2. DuckDB: `journey run` into a fresh warehouse, with dbt's own elapsed time from its run_results.json;
3. Spark: `journey run --engine spark` into a fresh Spark warehouse with the DuckDB warehouse's privacy key (the
   same customer ids), each step's time as it printed it (ingestion and raw gates, shipping, dbt seed, dbt run,
   prediction with the mart gates and publishing), dbt's slowest Spark models;
4. compares every table of the published generation with DuckDB's (orchestration/lib/spark_compare.py) and prints
   one JSON document.

Nothing is written inside the repository. Needs `.venv-spark` (`make spark` creates it) and Java 17.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_benchmarks import DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START, DEFAULT_WORK, ensure_data, fresh  # noqa: E402
from orchestration.lib.privacy import KEY_ENV, key_path  # noqa: E402
from orchestration.lib.spark_compare import compare_warehouses  # noqa: E402

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

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    env[KEY_ENV] = key_path(duck).read_text(encoding="utf-8").strip()
    result["spark_journey_run_seconds"] = round(timed(
        [str(VENV / "journey"), "run", "--engine", "spark", "--landing", str(data / "landing"), "--warehouse",
         str(spark)], logs / "spark.log", env=env, cwd=ROOT), 1)
    result["spark_steps_seconds"] = {step: float(seconds) for step, seconds in re.findall(
        r"^  (.+) done in ([0-9.]+) s$", (logs / "spark.log").read_text(), flags=re.MULTILINE)}
    result["spark_dbt"] = dbt_run_results(spark / "dbt-target")
    generation = json.loads((spark / "generations.json").read_text())["published"]

    comparisons = compare_warehouses(duck, spark, generation=generation)
    result["tables_compared"] = len(comparisons)
    result["tables_equal"] = sum(c.equal for c in comparisons)
    result["tables_not_equal"] = [c.describe() for c in comparisons if not c.equal]
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
