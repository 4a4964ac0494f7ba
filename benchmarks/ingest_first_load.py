"""First load of a whole landing folder (issue 18, item 4). Not part of the test suite.

Times, on one generated data set (generated once with `journey generate`, then reused):

  floor  DuckDB alone reading every export file once: the same queries as the `floor` of
         benchmarks/run_benchmarks.py (read_csv / read_json / read_parquet per source and format, every column
         hashed, rows counted), in a fresh in-memory DuckDB;
  load   `load_source` for all eight sources, one after the other, into a fresh warehouse file: what the raw
         assets of a first `journey run` (or a backfill of every date) do, without Dagster around them.

Every measurement is a child process importing the code of a checkout (default: this one), so the load of an
older commit can be timed the same way with `--checkout` (e.g. `git worktree add /tmp/ingest_base <commit>`).

    nice -n 5 .venv/bin/python benchmarks/ingest_first_load.py --data /tmp/bench_ingest/100k --people 100000
    nice -n 5 .venv/bin/python benchmarks/ingest_first_load.py --data /tmp/bench_ingest/100k --only load \
        --checkout /tmp/ingest_base --repeat 1

Prints one line per run and the medians; `--json FILE` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES_ORDER = ["web_events", "app_events", "orders", "pos_transactions", "email_events", "crm_contacts",
                 "support_tickets", "reviews"]


def ensure_data(data: Path, people: int, days: int, seed: int) -> Path:
    """The landing folder of `data`, generated first if it is not there yet."""
    landing = data / "landing"
    if not landing.is_dir():
        subprocess.run([str(ROOT / ".venv/bin/journey"), "generate", "--out", str(data), "--people", str(people),
                        "--days", str(days), "--seed", str(seed)], check=True)
    return landing


# ------------------------------------------------------------------------------------------------ child side
def child_floor(landing: Path) -> dict:
    import duckdb

    from benchmarks.run_benchmarks import floor_queries

    con = duckdb.connect()
    rows = 0
    t0 = time.perf_counter()
    for _, sql, _ in floor_queries(landing):
        rows += con.execute(sql).fetchone()[0]
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def child_load(landing: Path, warehouse: Path) -> dict:
    from orchestration.lib.ingest import load_source
    from orchestration.lib.warehouse import connect, ensure_tables

    con = connect(str(warehouse))
    ensure_tables(con)
    per_source = {}
    totals = {"files": 0, "rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0}
    t0 = time.perf_counter()
    for source in SOURCES_ORDER:
        s0 = time.perf_counter()
        report = load_source(con, source, landing, f"bench-{source}", datetime(2027, 2, 1))
        per_source[source] = round(time.perf_counter() - s0, 2)
        totals["files"] += len(report.files)
        totals["rows_read"] += report.rows_read
        totals["rows_loaded"] += report.rows_loaded
        totals["rows_quarantined"] += report.rows_quarantined
    seconds = time.perf_counter() - t0
    con.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, "per_source": per_source, **totals, "maxrss_mb": round(ru.ru_maxrss / 1024),
            "warehouse_mb": round(warehouse.stat().st_size / 2**20, 1)}


# ----------------------------------------------------------------------------------------------- parent side
def run_child(kind: str, landing: Path, checkout: Path) -> dict:
    """One measurement in a fresh process importing `checkout`'s code (and a fresh warehouse for loads)."""
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_child", kind, "--landing", str(landing),
               "--out", str(out), "--warehouse", str(Path(tmp) / "w.duckdb")]
        env = {**os.environ, "PYTHONPATH": f"{checkout}:{ROOT}"}
        subprocess.run(cmd, check=True, env=env, cwd=tmp)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("kind", choices=["floor", "load"])
        p.add_argument("--landing", type=Path, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--warehouse", type=Path, required=True)
        args = p.parse_args(argv[1:])
        result = child_floor(args.landing) if args.kind == "floor" else child_load(args.landing, args.warehouse)
        args.out.write_text(json.dumps(result))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="folder of a `journey generate --out` (made if missing)")
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--days", type=int, default=150)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are reported")
    p.add_argument("--only", choices=["all", "floor", "load"], default="all")
    p.add_argument("--checkout", type=Path, default=ROOT, help="the code whose load_source is timed")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    args = p.parse_args(argv)
    landing = ensure_data(args.data, args.people, args.days, args.seed)
    checkout = args.checkout.resolve()
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    results: dict[str, list[dict]] = {"floor": [], "load": []}
    kinds = ["floor", "load"] if args.only == "all" else [args.only]
    for i in range(args.repeat):
        for kind in kinds:
            r = run_child(kind, landing, checkout)
            results[kind].append(r)
            extra = (f", {r['files']} files, {r['rows_read']:,} rows read, {r['rows_quarantined']:,} quarantined, "
                     f"max RSS {r['maxrss_mb']} MB, per source {r['per_source']}") if kind == "load" else ""
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # a shared machine: how busy it was
            print(f"{kind} #{i + 1} ({commit}): {r['seconds']:.1f} s{extra}; load average {load}", flush=True)
            r["load_average"] = os.getloadavg()
    summary = {k: round(statistics.median(x["seconds"] for x in v), 2) for k, v in results.items() if v}
    if "floor" in summary and "load" in summary:
        summary["load / floor"] = round(summary["load"] / summary["floor"], 2)
    print(f"medians of {args.repeat} ({landing}, code at {commit}): {summary}")
    if args.json:
        args.json.write_text(json.dumps({"landing": str(landing), "commit": commit, "results": results,
                                         "medians": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
