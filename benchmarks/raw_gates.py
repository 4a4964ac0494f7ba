"""Time the raw quality checks (`raw_<source>_quality`) on a built warehouse. Not part of the test suite.

Each check validates the rows of the latest load of its source, as in a run: the function the Dagster check
calls (orchestration.defs.quality.checks.check_raw_source) is timed directly, so Dagster's step handling is not
counted. Whatever code is first on the import path is timed, so the same warehouse can be measured before and
after a change (PYTHONPATH=<a checkout of the old code>).

    python benchmarks/raw_gates.py /tmp/bench/w100k/journey.duckdb --repeat 3 --json /tmp/raw_gates.json

Run it under `nice -n 10` on a shared machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def time_checks(warehouse: Path, sources: list[str], repeat: int) -> dict:
    from dagster import build_asset_check_context

    import orchestration.defs.quality.checks as checks

    reports = Path("/tmp") / f"raw_gates_reports_{os.getpid()}"
    results = {}
    for source in sources:
        seconds, rows, passed = [], None, None
        for _ in range(repeat):
            context = build_asset_check_context()  # Dagster's own set-up, not the check's
            start = time.perf_counter()
            result = checks.check_raw_source(context, source, warehouse, reports)
            seconds.append(time.perf_counter() - start)
            rows, passed = result.metadata["rows_validated"].value, result.passed
        results[source] = {"rows": rows, "passed": passed, "seconds": seconds, "median": statistics.median(seconds)}
        print(f"{source:<18}{rows:>12,} rows  median {statistics.median(seconds):7.2f} s  "
              f"runs {', '.join(f'{s:.2f}' for s in seconds)}  {'passed' if passed else 'FAILED'}", flush=True)
    return {
        "warehouse": str(warehouse), "code": checks.__file__, "commit": _commit(Path(checks.__file__).parent),
        "repeat": repeat, "sources": results, "total_median": sum(r["median"] for r in results.values()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loadavg": os.getloadavg(),
    }


def _commit(folder: Path) -> str:
    out = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sources", default="", help="comma-separated; default every source")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from rules.contract import SOURCES

    sources = [s for s in args.sources.split(",") if s] or list(SOURCES)
    figures = time_checks(args.warehouse.resolve(), sources, args.repeat)
    print(f"total (sum of medians) {figures['total_median']:.2f} s; peak RSS {figures['peak_rss_mb']:.0f} MB; "
          f"load average {figures['loadavg'][0]:.2f}; code {figures['code']} at {figures['commit']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
