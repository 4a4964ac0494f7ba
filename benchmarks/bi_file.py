"""How long publishing's BI file takes, table by table: `write_bi_file` (what every publish runs) on a warehouse.

The warehouse is only read; the BI file is written beside it under a name of its own and removed afterwards, so a
published warehouse and its real BI file are left alone. Each repeat runs in this process one after the other.

    .venv/bin/python benchmarks/bi_file.py --warehouse /work/bench/runs/nights500k/journey.duckdb --repeat 3

Prints the total of every repeat, then each table's median seconds (largest first) and the file's size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.lib.publish import write_bi_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a published (checkpointed) warehouse file")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--top", type=int, default=10, help="tables to list")
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        parser.error(f"{args.warehouse} is not a file")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    target = args.warehouse.with_name(args.warehouse.stem + "_bi_benchmark" + args.warehouse.suffix)
    runs: list[dict[str, float]] = []
    totals = []
    try:
        for _ in range(args.repeat):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            write_bi_file(args.warehouse, target, timings)
            totals.append(time.perf_counter() - started)
            runs.append(timings)
        size = target.stat().st_size
    finally:
        target.unlink(missing_ok=True)
    print(f"write_bi_file on {args.warehouse}: " + ", ".join(f"{t:.1f} s" for t in totals)
          + f" (median {statistics.median(totals):.1f} s); BI file {size / 1e9:.2f} GB")
    medians = sorted(((statistics.median(r[name] for r in runs), name) for name in runs[0]), reverse=True)
    for seconds, name in medians[:args.top]:
        print(f"{seconds:8.1f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
