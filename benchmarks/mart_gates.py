"""Time the mart quality checks (`<mart>_quality`) on a built warehouse. Not part of the test suite.

Each check is the function the Dagster check calls (orchestration.defs.quality.checks.check_mart), timed directly,
so Dagster's step handling is not counted; Great Expectations is imported before the first timing, as a run's gates
find it imported. Whatever code is first on the import path is timed, so the same warehouse can be measured before
and after a change (PYTHONPATH=<a checkout of the old code>).

    python benchmarks/mart_gates.py /work/bench/ab/spy0/journey.duckdb --marts dim_customers --repeat 3

Run it under `nice -n 10` on a shared machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def time_checks(warehouse: Path, marts: list[str], repeat: int) -> dict:
    import great_expectations  # noqa: F401  (imported before the timings, as in a run)
    from dagster import build_asset_check_context

    import orchestration.defs.quality.checks as checks

    tables = {name: table for table, name, _ in checks.MART_CHECKS}
    reports = Path("/tmp") / f"mart_gates_reports_{os.getpid()}"
    results = {}
    for name in marts or list(tables):
        seconds, passed = [], None
        for _ in range(repeat):
            context = build_asset_check_context()  # Dagster's own set-up, not the check's
            start = time.perf_counter()
            result = checks.check_mart(context, tables[name], warehouse, reports)
            seconds.append(time.perf_counter() - start)
            passed = result.passed
        results[name] = {"seconds": [round(s, 3) for s in seconds], "median": round(statistics.median(seconds), 3),
                         "passed": passed}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path, help="a DuckDB warehouse file holding the marts (read only)")
    parser.add_argument("--marts", nargs="*", default=[], help="asset names (default: every mart gate)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results = time_checks(args.warehouse, args.marts, args.repeat)
    load = os.getloadavg()
    for name, figures in results.items():
        print(f"{name:30} median {figures['median']:6.2f} s  runs {figures['seconds']}  passed={figures['passed']}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"warehouse": str(args.warehouse), "load": load, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
