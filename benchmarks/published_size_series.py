"""Does the published file stay bounded over many nights? A full build, then N consecutive nightly days on the
same warehouse, then a fresh full build of the same data for the ratio (issue 18 target: after 10 nights at most
1.2 times the fresh build).

One generated data set (`journey generate`, cached like run_benchmarks.py's). The warehouse is built from the
first export dates, then each of the last --nights export dates is run as its own night (`journey backfill
--from D --to D`, what a nightly `journey run` does with tonight's folder), each on the warehouse the night
before published. After every night it records the published file's size and free share, how the build file
started (clone or copy) and what that cost, whether the publish step compacted the build file, its free share
before and the compaction's seconds. Each run is a child process of run_benchmarks.py (same step timings).

    nice -n 10 .venv/bin/python benchmarks/published_size_series.py --people 30000 --nights 10
    nice -n 10 .venv/bin/python benchmarks/published_size_series.py --free-share 1 --name never   # no compaction

Writes WORK/results/published_size_series-<name>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmarks as rb  # noqa: E402  (the benchmarks folder is not a package)

sys.path.insert(0, str(rb.ROOT))
from orchestration.lib.warehouse import COMPACT_FREE_SHARE_ENV, compact_free_share, file_space  # noqa: E402


def published_space(path: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        space = file_space(con, str(path))
    finally:
        con.close()
    return {"mb": round(space.file_bytes / 2**20, 1), "used_mb": round(space.used_bytes / 2**20, 1),
            "free_share": round(space.free_share, 4)}


def record(kind: str, dates: tuple[str, str], r: dict, warehouse: Path) -> dict:
    files = r.get("files", {})
    start, pub = files.get("ops/build_warehouse", {}), files.get("publish/warehouse", {})
    return {"kind": kind, "dates": list(dates), "exit_code": r["exit_code"], "seconds": round(r["total_seconds"], 1),
            "copy_seconds": round(r["stages"]["copy"], 2), "publish_seconds": round(r["stages"]["publish"], 2),
            "dbt_seconds": round(r["stages"]["dbt_build"], 1), "start": start.get("start"),
            "compacted": pub.get("compacted"), "free_share_before": pub.get("free_share_before"),
            "compact_seconds": pub.get("compact_seconds"), "compact_cpu_seconds": pub.get("compact_cpu_seconds"),
            "compaction": pub.get("compaction"),
            "published": published_space(warehouse), "load_before": r["load_before"], "load_after": r["load_after"],
            "peak_tree_rss_mb": round(r["peak_tree_rss_mb"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=30000)
    p.add_argument("--nights", type=int, default=10)
    p.add_argument("--history", type=int, default=30, help="export dates in the first (full) build")
    p.add_argument("--seed", type=int, default=rb.DEFAULT_SEED)
    p.add_argument("--start", default=rb.DEFAULT_START, help="first day of generated activity")
    p.add_argument("--free-share", help=f"{COMPACT_FREE_SHARE_ENV} for every run (default: the pipeline's)")
    p.add_argument("--name", default="default", help="result name (e.g. one per --free-share)")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_size"))
    args = p.parse_args(argv)

    if args.free_share is not None:
        os.environ[COMPACT_FREE_SHARE_ENV] = args.free_share
    threshold = compact_free_share()
    # two spare days at the end: the generator's last export dates hold less (late records still to come)
    data, gen = rb.ensure_data(args.work, args.people, args.history + args.nights + 2, args.seed, args.start)
    landing = data / "landing"
    dates = rb.landed_dates(landing)[: args.history + args.nights]
    first, last_full, nights = dates[0], dates[args.history - 1], dates[args.history:]
    runs, logs = rb.fresh(args.work / "runs" / args.name), rb.fresh(args.work / "logs" / args.name)
    extra = ["--work", str(args.work)]
    res: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "people": args.people,
                 "history": args.history, "nights": args.nights, "threshold": threshold, "commit": rb.git_commit(),
                 "generate": gen, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "busy_at_start": rb.busy_processes(), "series": []}
    out = args.work / "results" / f"published_size_series-{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def run(kind: str, warehouse: Path, start: str, end: str, log: str) -> dict:
        r = rb.run_child("build", ["--landing", str(landing), "--warehouse", str(warehouse), "--start", start,
                                   "--end", end, *extra], logs / log)
        row = record(kind, (start, end), r, warehouse)
        print(f"  {kind} {start}..{end}: {row['seconds']} s exit {row['exit_code']}, published {row['published']['mb']} "
              f"MB ({row['published']['free_share']:.1%} free), compacted {row['compacted']} "
              f"({row['compact_seconds']} s), copy {row['copy_seconds']} s", flush=True)
        if row["exit_code"]:
            raise SystemExit(f"{kind} failed; see {logs / log}")
        return row

    warehouse = runs / "series" / "journey.duckdb"
    warehouse.parent.mkdir()
    res["series"].append(run("full build", warehouse, first, last_full, "full.log"))
    for i, night in enumerate(nights, 1):
        res["series"].append(run(f"night {i}", warehouse, night, night, f"night-{i}.log"))
        out.write_text(json.dumps(res, indent=2, default=str))
    fresh_wh = runs / "fresh" / "journey.duckdb"
    fresh_wh.parent.mkdir()
    res["fresh"] = run("fresh full build", fresh_wh, first, nights[-1], "fresh.log")
    last, fresh_mb = res["series"][-1]["published"]["mb"], res["fresh"]["published"]["mb"]
    res["ratio_after_last_night"] = round(last / fresh_mb, 3)
    res["max_ratio"] = round(max(r["published"]["mb"] for r in res["series"]) / fresh_mb, 3)
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    out.write_text(json.dumps(res, indent=2, default=str))

    print(f"\n{args.people:,} people; full build of {first}..{last_full}, then {args.nights} nights; "
          f"{COMPACT_FREE_SHARE_ENV}={threshold}\n")
    print("| run | export dates | published MB | dead in published | build dead before publish | compacted | "
          "compaction s (CPU s) | copy s | run s | load before/after |\n|---|---|---:|---:|---:|---|---:|---:|---:|---|")
    for r in [*res["series"], res["fresh"]]:
        before = "" if r["free_share_before"] is None else f"{r['free_share_before']:.1%}"
        dates_text = r["dates"][0] if r["dates"][0] == r["dates"][1] else f"{r['dates'][0]}..{r['dates'][1]}"
        print(f"| {r['kind']} | {dates_text} | {r['published']['mb']} | {r['published']['free_share']:.1%} | {before} | "
              f"{'yes' if r['compacted'] else 'no'} | {r['compact_seconds'] or 0:.1f} ({r['compact_cpu_seconds'] or 0:.1f}) | "
              f"{r['copy_seconds']:.1f} | "
              f"{r['seconds']:.1f} | {r['load_before']}/{r['load_after']} |")
    print(f"\nafter night {args.nights}: {last} MB / fresh {fresh_mb} MB = {res['ratio_after_last_night']:.2f} "
          f"(target <= 1.2); the largest published file of the series / the same fresh build: {res['max_ratio']:.2f} "
          f"(earlier nights hold less data: their own ratio is higher); results: {out}")
    print(f"build file start of the last night: {res['series'][-1]['start']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
