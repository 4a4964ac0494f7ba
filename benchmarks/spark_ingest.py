"""The Spark engine's steps before dbt on a first load: the landing files read by Spark's executors with the raw
gates (`SparkRun.ingest`), the staged rows shipped to Spark's tables (`ship`) and the books kept (`keep_books`), the
calls `journey run --engine spark` makes, each timed (docs/benchmarks.md, "Issue 17"):

    .venv/bin/python benchmarks/spark_ingest.py --people 100000 [--days 150] [--work /tmp/bench]
    .venv/bin/python benchmarks/spark_ingest.py --landing seeds/landing

The exports are generated once (cached under WORK/data, as run_benchmarks.py does); the Spark warehouse is made
new under WORK/spark_ingest. Needs `.venv-spark` (`make spark`) and Java 17.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_benchmarks import DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START, ensure_data  # noqa: E402
from orchestration import spark_run  # noqa: E402
from orchestration.runner import RunSummary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", type=Path, help="a landing folder (else generated exports)")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--start", default=DEFAULT_START)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench"))
    args = parser.parse_args()
    landing = args.landing or ensure_data(args.work, args.people, args.days, args.seed, args.start)[0] / "landing"
    warehouse = args.work / "spark_ingest"
    shutil.rmtree(warehouse, ignore_errors=True)
    warehouse.mkdir(parents=True)
    summary = RunSummary(str(uuid.uuid4()), success=False, published=False, warehouse=warehouse)
    summary.log_file = warehouse / "steps.log"
    seconds = {}
    with summary.log_file.open("w", encoding="utf-8") as log:
        run = spark_run.SparkRun(landing.resolve(), warehouse, spark_run.spark_python(), summary, log)
        for name, step in (("ingestion and raw gates", lambda: run.ingest(None)), ("shipping", run.ship),
                           ("keeping the books", run.keep_books)):
            started = time.perf_counter()
            step()
            seconds[name] = time.perf_counter() - started
    print(f"landing {landing}")
    print("; ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
    read, loaded, quarantined = (sum(row[i] for row in summary.sources) for i in (2, 3, 4))
    print(f"{read:,} rows read = {loaded:,} loaded + {quarantined:,} quarantined; "
          f"{sum(c.passed for c in summary.checks)} of {len(summary.checks)} raw gates passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
