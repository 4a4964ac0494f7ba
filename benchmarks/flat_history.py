"""Is a night flat in history? The same night's exports built on a warehouse holding H days and one holding 4H days.

One generated data set (same population throughout). Warehouse `short` is backfilled with the H export dates before
the night, warehouse `long` with the 4H dates before it; then the night (one export date, identical files) is run on
a copy of each, `--repeat` times, and the medians compared. Target (issue 18): long / short at most 1.25.

    nice -n 5 .venv/bin/python benchmarks/flat_history.py --people 50000 --history 30 --repeat 3

Writes results to WORK/flat_history.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmarks as rb  # noqa: E402  (the benchmarks folder is not a package)


def journey(*args: str) -> tuple[float, int, str]:
    """Run `journey ...` in a child process; wall seconds, exit code, output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def rows_of(landing: Path, day: date) -> int:
    total = 0
    for folder in landing.glob(f"*/{day.isoformat()}"):
        total += sum(f.stat().st_size for f in folder.iterdir())
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=50000)
    p.add_argument("--history", type=int, default=30, help="days of history of the short warehouse (long: 4x)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default="2026-04-01")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_flat"))
    args = p.parse_args(argv)

    work = args.work
    days = 5 * args.history + 10  # the night sits well inside the generated window (its volume is typical)
    data = work / "data" / f"{args.people}x{days}"
    if not (data / "landing").is_dir():
        seconds, code, out = journey("generate", "--out", str(data), "--people", str(args.people), "--days", str(days),
                                     "--seed", str(args.seed), "--start", args.start)
        if code:
            print(out)
            return code
    landing = data / "landing"
    first = date.fromisoformat(args.start) + timedelta(days=1)  # export dates start the day after activity starts
    night = first + timedelta(days=4 * args.history)
    spans = {"short": (night - timedelta(days=args.history), night - timedelta(days=1)),
             "long": (night - timedelta(days=4 * args.history), night - timedelta(days=1))}
    results: dict = {"people": args.people, "history_days": args.history, "night": night.isoformat(),
                     "night_bytes": rows_of(landing, night), "runs": {}}
    for name, (start, end) in spans.items():
        base = work / name / "journey.duckdb"
        if base.parent.exists():
            shutil.rmtree(base.parent)
        seconds, code, out = journey("backfill", "--from", start.isoformat(), "--to", end.isoformat(),
                                     "--landing", str(landing), "--warehouse", str(base))
        print(f"{name}: backfill {start}..{end} {seconds:.1f}s exit {code}", flush=True)
        if code:
            print(out[-3000:])
            return code
        times = []
        for i in range(args.repeat):
            copy = work / f"{name}-night-{i}" / "journey.duckdb"
            if copy.parent.exists():
                shutil.rmtree(copy.parent)
            copy.parent.mkdir(parents=True)
            shutil.copyfile(base, copy)
            rb.prepare_parse_state(copy)  # dbt's parse state, as a real night on the same warehouse finds it
            seconds, code, out = journey("backfill", "--from", night.isoformat(), "--to", night.isoformat(),
                                         "--landing", str(landing), "--warehouse", str(copy))
            print(f"{name}: night {night} #{i + 1} {seconds:.1f}s exit {code}", flush=True)
            if code:
                print(out[-3000:])
                return code
            times.append(seconds)
            shutil.rmtree(copy.parent)
        results["runs"][name] = {"backfill": [start.isoformat(), end.isoformat()], "night_seconds": times,
                                 "median": statistics.median(times),
                                 "warehouse_mb": round(base.stat().st_size / 2**20, 1)}
    ratio = results["runs"]["long"]["median"] / results["runs"]["short"]["median"]
    results["ratio"] = ratio
    (work / "flat_history.json").write_text(json.dumps(results, indent=2))
    print(f"\n| history | export dates | warehouse | night {night} (median of {args.repeat}) |\n|---|---|---:|---:|")
    for name, r in results["runs"].items():
        print(f"| {name} | {r['backfill'][0]}..{r['backfill'][1]} | {r['warehouse_mb']} MB | {r['median']:.1f} s |")
    print(f"\nlong / short: {ratio:.2f} (target <= 1.25); night's exports {results['night_bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
