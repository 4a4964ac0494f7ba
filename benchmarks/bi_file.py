"""How long publishing's BI file takes, table by table: `write_bi_file` (what every publish runs) on a warehouse.

The warehouse is only read; the BI file is written beside it under a name of its own and removed afterwards, so a
published warehouse and its real BI file are left alone. Each repeat runs in this process one after the other.

    .venv/bin/python benchmarks/bi_file.py --warehouse /work/bench/runs/nights500k/journey.duckdb --repeat 3

Prints the total of every repeat, then each table's median seconds (largest first) and the file's size.

With `--previous` (the published warehouse of the night before), it measures what a nightly publish does instead:
the previous night's BI file is written whole from a copy of `--previous`, then brought up to date from a copy of
`--warehouse` (each repeat from the same previous BI file). Both warehouses are copied into `--work` first (a
publish adds a row to each one's ops.publications; a warehouse of an older version gets the previous one's log):

    .venv/bin/python benchmarks/bi_file.py --warehouse /work/bench/runs/nights500k/journey.duckdb \
        --previous /work/bench/runs/nights500k/journey.duckdb.previous --work /work/bench/runs/bi-update --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.lib.publish import record_publication, write_bi_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a published (checkpointed) warehouse file")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--top", type=int, default=10, help="tables to list")
    parser.add_argument("--previous", type=Path, help="the published warehouse of the night before: measure the update")
    parser.add_argument("--work", type=Path, help="a folder for the copies --previous needs")
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        parser.error(f"{args.warehouse} is not a file")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.previous:
        if not args.previous.is_file() or not args.work:
            parser.error("--previous needs an existing warehouse file and --work")
        return update(args)
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
    report(f"write_bi_file on {args.warehouse}", totals, runs, args.top, f"BI file {size / 1e9:.2f} GB")
    return 0


def report(title: str, totals: list[float], runs: list[dict[str, float]], top: int, tail: str,
           how: dict[str, str] | None = None) -> None:
    """The total of every repeat, then each table's median seconds (largest first), with `how` it was written."""
    print(f"{title}: " + ", ".join(f"{t:.1f} s" for t in totals)
          + f" (median {statistics.median(totals):.1f} s); {tail}")
    medians = sorted(((statistics.median(r[name] for r in runs), name) for name in runs[0]), reverse=True)
    for seconds, name in medians[:top]:
        print(f"{seconds:8.1f} s  {name}" + (f" ({how.get(name, '')})" if how else ""))


def update(args: argparse.Namespace) -> int:
    import duckdb

    args.work.mkdir(parents=True, exist_ok=True)
    previous, current = args.work / "previous.duckdb", args.work / "current.duckdb"
    base, target = args.work / "previous_bi.duckdb", args.work / "journey_bi.duckdb"
    shutil.copyfile(args.previous, previous)
    record_publication(previous)
    started = time.perf_counter()
    whole = write_bi_file(previous, base)
    print(f"the previous night's BI file, {whole}: {time.perf_counter() - started:.1f} s, "
          f"{base.stat().st_size / 1e9:.2f} GB")
    shutil.copyfile(args.warehouse, current)
    con = duckdb.connect(str(current))
    try:  # the log a build copied from `previous` would have inherited
        con.execute(f"attach '{previous}' as previous (read_only)")
        con.execute("create schema if not exists ops")
        con.execute("create or replace table ops.publications as select * from previous.ops.publications")
    finally:
        con.close()
    parent = record_publication(current)
    runs: list[dict[str, float]] = []
    totals = []
    for _ in range(args.repeat):
        shutil.copyfile(base, target)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        result = write_bi_file(current, target, timings, parent=parent)
        totals.append(time.perf_counter() - started)
        runs.append(timings)
    report(f"brought up to date from {args.warehouse}", totals, runs, args.top,
           f"{result}; {target.stat().st_size / 1e9:.2f} GB", result.tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
