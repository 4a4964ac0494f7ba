"""Benchmarks of the nightly pipeline (issue 6, item 5). Not part of the test suite.

For each size (people x days of `journey generate`) this script

  a. generates the exports once and caches them under WORK/data/ (reused when the folder is complete);
  b. measures the DuckDB floor: DuckDB alone reading every export file once (read_csv / read_json /
     read_parquet per source, every column hashed so nothing is skipped, rows counted);
  c. runs the full build: `journey run` over every export date into a fresh warehouse, with the wall time of
     every Dagster step (copy of the published file, ingest per source, raw quality checks, dbt build, mart
     checks, publish), the total, CPU seconds and peak memory;
  d. runs one nightly day: a warehouse backfilled with every export date but the last, then `journey backfill
     --from LAST --to LAST` on a copy of it, timed on its own. With `--nights-before K`, the backfill stops K dates
     earlier and those K dates are run one night at a time on it first, so that the measured night follows a night,
     as on a schedule (the first incremental night after a backfill rewrites what the full build left full size,
     and usually compacts: docs/benchmarks.md, seventh round).

Every measured run is a child process (`run_benchmarks.py _child ...`) so its peak RSS (ru_maxrss of the
process and of its children such as dbt) belongs to that run alone; the parent also samples the resident
memory of the whole process tree from /proc every 0.2 s (peak of the sum). The child calls
`orchestration.runner.execute` unchanged; to read the Dagster run's step events it wraps
`DagsterInstance.ephemeral` so the events of the in-process run are copied before the instance closes
(no change to the runner or the definitions). dbt's per-model timings come from the run's run_results.json.

Results go to WORK/results/<size>.json; `--doc docs/benchmarks.md` rewrites the generated block of that file
(between the BEGIN/END markers) from every result present. Sizes are NAME=PEOPLE[xDAYS].

    python benchmarks/run_benchmarks.py --sizes 10k=10000 --repeat 3 --doc docs/benchmarks.md
    python benchmarks/run_benchmarks.py --sample --doc docs/benchmarks.md     # `journey run` on seeds/landing
    python benchmarks/run_benchmarks.py --render --doc docs/benchmarks.md     # only rewrite the doc

Run it under `nice -n 10` on a shared machine; timings on a loaded machine are noisy (the doc records the
load average and the busiest other processes of every measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DEFAULT_WORK = Path("/tmp/bench")
DEFAULT_DAYS = 150
DEFAULT_START = "2026-06-01"  # 150 export days end on 2026-10-29: every partition is in the past
DEFAULT_SEED = 7
BEGIN = "<!-- BEGIN GENERATED: benchmarks/run_benchmarks.py -->"
END = "<!-- END GENERATED -->"
SOURCES_ORDER = ["web_events", "app_events", "orders", "pos_transactions", "email_events", "crm_contacts",
                 "support_tickets", "reviews"]
STAGES = ["setup", "copy", "ingest", "raw_checks", "dbt_build", "prediction", "mart_checks", "publish", "other"]


# ------------------------------------------------------------------------------------------------ child side
def _capture_dagster_events() -> dict:
    """Copy every event of the in-process run before `runner._execute` closes its ephemeral instance."""
    import dagster as dg

    captured: dict = {}
    original = dg.DagsterInstance.ephemeral

    class _Keep:
        def __init__(self, instance):
            self.instance = instance

        def __getattr__(self, name):  # the runner may set up the instance before entering it
            return getattr(self.instance, name)

        def __enter__(self):
            return self.instance.__enter__()

        def __exit__(self, *exc):
            for run in self.instance.get_runs():
                captured[run.run_id] = list(self.instance.all_logs(run.run_id))
            return self.instance.__exit__(*exc)

    def ephemeral(*args, **kwargs):
        return _Keep(original(*args, **kwargs))

    dg.DagsterInstance.ephemeral = staticmethod(ephemeral)
    return captured


def classify_step(step_key: str) -> tuple[str, str | None]:
    """(stage, source) of a step of the nightly job."""
    if step_key == "ops__build_warehouse":
        return "copy", None
    if step_key in ("journey_dbt_models", "journey_dbt_after_prediction"):  # (after_prediction: older versions)
        return "dbt_build", None
    if step_key == "predict_purchases":
        return "prediction", None
    if step_key == "publish__warehouse":
        return "publish", None
    for source in SOURCES_ORDER:
        if step_key == f"raw__{source}":
            return "ingest", source
    for source in SOURCES_ORDER:
        if step_key.startswith(f"raw__{source}"):
            return "raw_checks", source
    if step_key.startswith("marts__"):
        return "mart_checks", None
    return "other", None


def step_timings(entries: list) -> tuple[list[dict], float | None, float | None]:
    """Per step: start, end, seconds, outcome; plus the run's first and last event timestamps."""
    steps: dict[str, dict] = {}
    first = last = None
    for e in entries:
        ts = e.timestamp
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)
        ev = e.dagster_event
        if ev is None or not e.step_key:
            continue
        kind = ev.event_type_value
        s = steps.setdefault(e.step_key, {"step": e.step_key, "start": None, "end": None, "outcome": None})
        if kind == "STEP_START":
            s["start"] = ts
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            s["end"], s["outcome"] = ts, kind
    out = []
    for s in steps.values():
        if s["start"] is not None and s["end"] is not None:
            s["seconds"] = s["end"] - s["start"]
            s["stage"], s["source"] = classify_step(s["step"])
            out.append(s)
    out.sort(key=lambda s: s["start"])
    return out, first, last


FILE_KEYS = ("ops/build_warehouse", "publish/warehouse")


def _store_file_metadata() -> None:
    """`journey run`'s instance stores no asset materialisations (orchestration/defs/instance.py); the two whose
    metadata file_metadata reads (how the build file started; the compaction) are stored all the same here."""
    from orchestration.defs import instance as run_instances

    unfiltered_instance = run_instances.run_instance

    def run_instance():
        instance = unfiltered_instance()
        storage = instance.event_log_storage
        filtered = storage.store_event  # the instance's filter (an attribute of this storage)
        unfiltered = type(storage).store_event.__get__(storage)

        def store(event) -> None:
            ev = event.dagster_event
            if (ev is not None and ev.event_type_value == "ASSET_MATERIALIZATION"
                    and ev.asset_key.to_user_string() in FILE_KEYS):
                unfiltered(event)
            else:
                filtered(event)

        storage.store_event = store
        return instance

    run_instances.run_instance = run_instance


def file_metadata(entries: list) -> dict:
    """What the build-file and publish steps reported (how the build file started, compaction), by asset key."""
    out = {}
    for e in entries:
        ev = e.dagster_event
        if ev is None or ev.event_type_value != "ASSET_MATERIALIZATION":
            continue
        mat = ev.event_specific_data.materialization
        key = mat.asset_key.to_user_string()
        if key in FILE_KEYS:
            out[key] = {k: v.value for k, v in (mat.metadata or {}).items()}
    return out


def dbt_model_timings(warehouse: Path, limit: int = 15) -> dict:
    """Slowest dbt nodes of this run: dbt's artifacts of a warehouse's latest build are kept beside it
    (`<warehouse>.dbt/`, see `WarehouseResource.dbt_target`), read right after the run."""
    paths = [str(p) for p in [warehouse.with_name(warehouse.name + ".dbt") / "run_results.json"] if p.exists()]
    if not paths:
        return {}
    data = json.loads(Path(paths[0]).read_text())
    rows = [
        {"node": r["unique_id"], "status": r["status"], "seconds": round(float(r.get("execution_time") or 0), 3)}
        for r in data.get("results", [])
    ]
    by_type: dict[str, float] = {}
    for r in rows:
        kind = r["node"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0.0) + r["seconds"]
    rows.sort(key=lambda r: -r["seconds"])
    return {"elapsed": data.get("elapsed_time"), "by_type": by_type, "slowest": rows[:limit], "nodes": len(rows),
            "run_results": paths[0]}


def _use_dbt_settings(settings_json: str, work: Path) -> dict:
    """Experiment only: run dbt with extra DuckDB settings (e.g. memory_limit) from a copy of profiles.yml.

    The copy goes to WORK/profiles/; the definitions' DbtCliResource is pointed at it. The repository's
    profiles.yml is not changed.
    """
    import yaml
    from dagster_dbt import DbtProject

    import orchestration.definitions as definitions
    from orchestration.defs.dbt.project import DBT_PROJECT_DIR

    settings = json.loads(settings_json)
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    for profile in profiles.values():
        for output in profile.get("outputs", {}).values():
            output.setdefault("settings", {}).update(settings)
    folder = work / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(profiles))
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=folder)
    definitions.dbt_project = lambda: project
    return settings


def child_build(args) -> dict:
    started = time.perf_counter()
    captured = _capture_dagster_events()
    _store_file_metadata()
    dbt_settings = _use_dbt_settings(args.dbt_settings, Path(args.work)) if args.dbt_settings else None
    from orchestration import runner

    start = date.fromisoformat(args.start) if args.start else None
    end = date.fromisoformat(args.end) if args.end else None
    t0 = time.perf_counter()
    summary = runner.execute(Path(args.landing), Path(args.warehouse), start, end)
    t1 = time.perf_counter()
    entries = captured.get(summary.run_id, [])
    steps, first, last = step_timings(entries)
    stages = {k: 0.0 for k in STAGES}
    ingest: dict[str, float] = {}
    raw_checks: dict[str, float] = {}
    for s in steps:
        stages[s["stage"]] += s["seconds"]
        if s["stage"] == "ingest":
            ingest[s["source"]] = ingest.get(s["source"], 0.0) + s["seconds"]
        if s["stage"] == "raw_checks":
            raw_checks[s["source"]] = raw_checks.get(s["source"], 0.0) + s["seconds"]
    total = t1 - t0
    in_steps = sum(s["seconds"] for s in steps)
    # other: inside the Dagster run but between steps; setup: outside the run (imports, definitions, the lock,
    # the summary's counts after it)
    stages["other"] = max(0.0, (last - first) - in_steps) if first is not None else 0.0
    stages["setup"] = max(0.0, total - in_steps - stages["other"])
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    child_ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "run_id": summary.run_id,
        "success": summary.success,
        "published": summary.published,
        "exit_code": summary.exit_code,
        "failures": summary.failures[:10],
        "checks_passed": sum(c.passed for c in summary.checks),
        "checks_failed": sum(not c.passed for c in summary.checks),
        "sources": [list(map(lambda v: v if isinstance(v, str) else int(v or 0), row)) for row in summary.sources],
        "customers": summary.customers,
        "touchpoints": summary.touchpoints,
        "total_seconds": total,
        "import_seconds": t0 - started,
        "stages": stages,
        "ingest_by_source": ingest,
        "raw_checks_by_source": raw_checks,
        "steps": [{**{k: s[k] for k in ("step", "stage", "seconds", "outcome")},
                   "at": s["start"] - first if first is not None else None} for s in steps],
        "dbt": dbt_model_timings(Path(args.warehouse)),
        "files": file_metadata(entries),
        "maxrss_self_mb": self_ru.ru_maxrss / 1024,
        "maxrss_children_mb": child_ru.ru_maxrss / 1024,
        "cpu_self_s": self_ru.ru_utime + self_ru.ru_stime,
        "cpu_children_s": child_ru.ru_utime + child_ru.ru_stime,
        "warehouse_mb": _size_mb(Path(args.warehouse)),
        "dbt_settings": dbt_settings,
    }


def floor_queries(landing: Path) -> list[tuple[str, str, int]]:
    """(source/format, SQL, files) reading every export file once, every column hashed."""
    from orchestration.lib.ingest import discover_files, file_suffix, sql_str

    queries = []
    for source in SOURCES_ORDER:
        files = [p for _, p in discover_files(landing, source)]
        by_kind: dict[str, list[str]] = {}
        for p in files:
            suffix = file_suffix(p)
            kind = "csv" if suffix.startswith(".csv") else "json" if suffix.startswith(".jsonl") else "parquet"
            by_kind.setdefault(kind, []).append(str(p))
        for kind, paths in by_kind.items():
            lst = "[" + ", ".join(sql_str(p) for p in paths) + "]"
            # Explicit dialect, no union_by_name (every generated file of a source has the same columns):
            # union_by_name makes DuckDB sniff each file and costs 10-20x the read itself.
            reader = {
                "csv": f"read_csv({lst}, all_varchar = true, header = true, delim = ',', quote = '\"', "
                       "escape = '\"', ignore_errors = true, strict_mode = false)",
                "json": f"read_json({lst}, format = 'newline_delimited', ignore_errors = true)",
                "parquet": f"read_parquet({lst})",
            }[kind]
            queries.append((f"{source} ({kind})", f"select count(*), sum(hash(columns(*))) from {reader}", len(paths)))
    return queries


def child_floor(args) -> dict:
    import duckdb

    landing = Path(args.landing)
    queries = floor_queries(landing)
    con = duckdb.connect()
    per = {}
    rows_total = 0
    t0 = time.perf_counter()
    for name, sql, files in queries:
        q0 = time.perf_counter()
        rows = con.execute(sql).fetchone()[0]
        per[name] = {"rows": rows, "files": files, "seconds": time.perf_counter() - q0}
        rows_total += rows
    total = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"total_seconds": total, "rows": rows_total, "files": sum(v["files"] for v in per.values()),
            "per_source": per, "maxrss_self_mb": ru.ru_maxrss / 1024, "cpu_self_s": ru.ru_utime + ru.ru_stime,
            "duckdb_threads": con.execute("select current_setting('threads')").fetchone()[0]}


def _size_mb(path: Path) -> float | None:
    return round(path.stat().st_size / 2**20, 1) if path.exists() else None


# ----------------------------------------------------------------------------------------------- parent side
class TreeSampler(threading.Thread):
    """Peak resident memory of a process and all its descendants (sum), sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.peak_single_kb = 0
        self._halt = threading.Event()
        self.page_kb = os.sysconf("SC_PAGE_SIZE") // 1024

    def run(self):
        while not self._halt.is_set():
            with contextlib.suppress(Exception):  # a process vanished mid-scan: next sample
                self._sample()
            self._halt.wait(self.interval)

    def _sample(self):
        parent = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        text = f.read()
                    parent[int(d)] = int(text[text.rfind(")") + 2:].split()[1])
                except OSError:
                    continue
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            p = frontier.pop()
            for c, pp in parent.items():
                if pp == p and c not in tree:
                    tree.add(c)
                    frontier.append(c)
        total = 0
        for p in tree:
            try:
                with open(f"/proc/{p}/statm") as f:
                    rss = int(f.read().split()[1]) * self.page_kb
            except OSError:
                continue
            total += rss
            self.peak_single_kb = max(self.peak_single_kb, rss)
        self.peak_kb = max(self.peak_kb, total)

    def stop(self):
        self._halt.set()
        self.join()


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def busy_processes(n: int = 6) -> list[str]:
    """The busiest other processes right now (what else competes for the 2 cores)."""
    out = subprocess.run(["ps", "-eo", "pcpu,rss,etime,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    lines = []
    for line in out.splitlines()[1:]:
        if "run_benchmarks.py" in line or "ps -eo" in line:  # this script and its own children
            continue
        parts = line.split(None, 3)
        if len(parts) == 4 and float(parts[0]) >= 5.0:
            lines.append(f"{parts[0]}% cpu, {int(parts[1]) // 1024} MB: {parts[3][:110]}")
        if len(lines) >= n:
            break
    return lines


def run_child(kind: str, extra: list[str], log: Path) -> dict:
    """Run one measurement in a child process (niced like the parent); return its JSON plus tree memory."""
    out = log.with_suffix(".json")
    out.unlink(missing_ok=True)
    cmd = [PY, str(Path(__file__).resolve()), "_child", kind, "--out", str(out), *extra]
    load_before = loadavg()
    t0 = time.perf_counter()
    with log.open("w") as handle:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop()
    wall = time.perf_counter() - t0
    if code != 0 or not out.exists():
        raise RuntimeError(f"{kind} child failed (exit {code}); see {log}")
    result = json.loads(out.read_text())
    result.update(process_wall_seconds=wall, peak_tree_rss_mb=sampler.peak_kb / 1024,
                  peak_single_rss_mb=sampler.peak_single_kb / 1024, load_before=load_before, load_after=loadavg())
    return result


def ensure_data(work: Path, people: int, days: int, seed: int, start: str) -> tuple[Path, dict]:
    data = work / "data" / f"p{people}_d{days}_s{seed}_{start}"
    marker = data / "generated.json"
    if marker.exists():
        return data, json.loads(marker.read_text())
    if data.exists():
        shutil.rmtree(data)
    data.parent.mkdir(parents=True, exist_ok=True)
    cmd = [PY, "-m", "orchestration.cli", "generate", "--out", str(data), "--people", str(people),
           "--days", str(days), "--seed", str(seed), "--start", start]
    print("  generating:", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    info = {"command": "journey " + " ".join(cmd[3:]), "seconds": time.perf_counter() - t0, "stats": out.strip(),
            "landing_mb": round(sum(p.stat().st_size for p in (data / "landing").rglob("*") if p.is_file()) / 2**20, 1)}
    marker.write_text(json.dumps(info, indent=2))
    return data, info


def landed_dates(landing: Path) -> list[str]:
    return sorted({p.name for p in landing.glob("*/*") if p.is_dir()})


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def bench_size(name: str, people: int, days: int, args) -> dict:
    work = args.work
    size_name = name
    if args.variant:
        name = f"{name}-{args.variant}"
    print(f"== {name}: {people} people x {days} days", flush=True)
    data, gen = ensure_data(work, people, days, args.seed, args.start)
    landing = data / "landing"
    dates = landed_dates(landing)
    last, before_last = dates[-1], (date.fromisoformat(dates[-1]) - timedelta(days=1)).isoformat()
    runs = work / "runs" / name
    extra = ["--work", str(work)] + (["--dbt-settings", args.dbt_settings] if args.dbt_settings else [])
    if args.only == "full":  # more full builds of a size that has results (a median needs several)
        res = json.loads((work / "results" / f"{name}.json").read_text())
        (work / "logs" / name).mkdir(parents=True, exist_ok=True)
        for _ in range(args.repeat):
            full_build(res, landing, runs, work / "logs" / name, extra, keep=False)
            res["full"][-1]["commit"] = git_commit()
            _save(work, res)
        return res
    if args.only == "floor":
        res = json.loads((work / "results" / f"{name}.json").read_text())
        res["floor"] = [run_child("floor", ["--landing", str(landing)], logs_floor(work, name, i))
                        for i in range(args.repeat)]
        print(f"  floor: {[round(r['total_seconds'], 1) for r in res['floor']]}", flush=True)
        res["floor_commit"] = git_commit()
        _save(work, res)
        return res
    stored = work / "results" / f"{name}.json"
    if args.only == "nightly" and stored.exists():  # the night again: the size's floor and full builds are kept
        res = json.loads(stored.read_text())
        res.update(nightly=[], nightly_commit=git_commit(), nightly_started=time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                         time.gmtime()))
        logs = work / "logs" / name
        logs.mkdir(parents=True, exist_ok=True)
    else:
        res = {"name": name, "people": people, "days": days, "seed": args.seed, "start": args.start,
               "commit": git_commit(), "size": size_name, "variant": args.variant, "dbt_settings": args.dbt_settings,
               "generate": gen, "export_dates": [dates[0], dates[-1], len(dates)], "busy_at_start": busy_processes(),
               "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "floor": [], "full": [],
               "nightly": []}
        logs = fresh(work / "logs" / name)
    for i in range(args.repeat if args.only == "all" else 0):
        r = run_child("floor", ["--landing", str(landing)], logs / f"floor-{i}.log")
        print(f"  floor #{i + 1}: {r['total_seconds']:.1f}s, {r['rows']:,} rows", flush=True)
        res["floor"].append(r)
    for i in range(args.repeat if args.only == "all" else 0):
        full_build(res, landing, runs, logs, extra, keep=args.keep or i == args.repeat - 1)
        _save(work, res)
    if not args.skip_nightly and (not args.variant or args.only == "nightly"):
        base = fresh(runs / "nightly-base") / "journey.duckdb"
        if not 0 <= args.nights_before <= len(dates) - 2:
            raise SystemExit(f"--nights-before {args.nights_before}: the backfill needs at least one of the "
                             f"{len(dates)} export dates, and the measured night the last (at most {len(dates) - 2})")
        warm = dates[-1 - args.nights_before:-1] if args.nights_before else []
        backfill_end = (date.fromisoformat(warm[0]) - timedelta(days=1)).isoformat() if warm else before_last
        r = run_child("build", ["--landing", str(landing), "--warehouse", str(base), "--start", dates[0],
                                "--end", backfill_end], logs / "backfill-all-but-last.log")
        print(f"  backfill {dates[0]}..{backfill_end}: {r['total_seconds']:.1f}s exit {r['exit_code']}", flush=True)
        res["backfill_all_but_last"] = r
        res["nights_before"] = []
        for day in warm:  # nights on the base before the measured one (--nights-before)
            r = run_child("build", ["--landing", str(landing), "--warehouse", str(base), "--start", day, "--end", day],
                          logs / f"night-before-{day}.log")
            print(f"  night before {day}: {r['total_seconds']:.1f}s exit {r['exit_code']}", flush=True)
            res["nights_before"].append(r)
        for i in range(args.repeat):
            wh = fresh(runs / f"nightly-{i}") / "journey.duckdb"
            shutil.copyfile(base, wh)
            prepare_parse_state(wh)  # dbt's parse state, as a real night on the same warehouse finds it
            r = run_child("build", ["--landing", str(landing), "--warehouse", str(wh), "--start", last, "--end", last],
                          logs / f"nightly-{i}.log")
            print(f"  nightly {last} #{i + 1}: {r['total_seconds']:.1f}s exit {r['exit_code']}", flush=True)
            res["nightly"].append(r)
            shutil.rmtree(runs / f"nightly-{i}")
            _save(work, res)
        if not args.keep:
            shutil.rmtree(runs / "nightly-base")
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    res["busy_at_end"] = busy_processes()
    _save(work, res)
    return res


def full_build(res: dict, landing: Path, runs: Path, logs: Path, extra: list[str], keep: bool) -> None:
    """One more full build into a fresh warehouse, appended to res["full"]; its warehouse is kept if `keep`."""
    i = len(res["full"])
    wh = fresh(runs / f"full-{i}") / "journey.duckdb"
    r = run_child("build", ["--landing", str(landing), "--warehouse", str(wh), *extra], logs / f"full-{i}.log")
    print(f"  full #{i + 1}: {r['total_seconds']:.1f}s exit {r['exit_code']} touchpoints {r['touchpoints']} "
          f"peak {r['peak_tree_rss_mb']:.0f} MB", flush=True)
    res["full"].append(r)
    if not keep:
        shutil.rmtree(runs / f"full-{i}")


def logs_floor(work: Path, name: str, i: int) -> Path:
    (work / "logs" / name).mkdir(parents=True, exist_ok=True)
    return work / "logs" / name / f"floor-{i}.log"


def git_commit() -> str:
    """HEAD, plus '+dirty' when tracked files differ (the work tree may be shared with other engineers)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def prepare_parse_state(wh: Path) -> None:
    """dbt's parse state for warehouse `wh`, made outside the timing: a real night finds the one its previous run
    left, and the first `make run` the one `make parse` made for the default warehouse. dbt keeps parse state per
    profile. The pipeline's dbt (`journey-dbt`, orchestration/lib/dbt_cli.py) compares the build file's name, plain
    dbt its whole path: made by plain dbt, the state did not hold for the run, which parsed the project again (4-5 s
    of every sample run measured before the fourteenth round)."""
    state = wh.with_name(wh.name + ".dbt")
    subprocess.run([str(Path(PY).parent / "journey-dbt"), "parse", "--quiet", "--profiles-dir", ".", "--project-dir", "."],
                   cwd=ROOT / "dbt_project", check=True,
                   env=dict(os.environ, DBT_TARGET_PATH=str(state), DBT_LOG_PATH=str(state),
                            JOURNEY_BUILD_WAREHOUSE=str(wh.with_name(wh.name + ".build"))))


def bench_sample(args) -> dict:
    """`journey run` on the bundled sample into a fresh warehouse (the CLI itself) that has dbt's parse state, as the
    first `make run` after installation has; and a cold `dbt parse`."""
    work = args.work
    logs = fresh(work / "logs" / "sample")
    res: dict = {"name": "sample", "runs": [], "commit": git_commit(), "busy_at_start": busy_processes(),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    target = fresh(work / "runs" / "sample-parse-target")
    env = dict(os.environ, DBT_TARGET_PATH=str(target), DBT_LOG_PATH=str(target), JOURNEY_BUILD_WAREHOUSE=str(target / "x.duckdb.build"))
    t0 = time.perf_counter()
    subprocess.run([str(Path(PY).parent / "dbt"), "parse", "--quiet", "--profiles-dir", ".", "--project-dir", "."],
                   cwd=ROOT / "dbt_project", env=env, check=True)
    res["dbt_parse_cold_seconds"] = time.perf_counter() - t0
    for i in range(args.repeat):
        wh = fresh(work / "runs" / f"sample-{i}") / "journey.duckdb"
        # As after installation: `make run` finds dbt's parse state made for the default warehouse by `make parse`;
        # a warehouse elsewhere gets its own here, outside the timing (dbt keeps parse state per profile, and the
        # build file's path is part of the profile).
        prepare_parse_state(wh)
        cmd = [PY, "-m", "orchestration.cli", "run", "--landing", str(ROOT / "seeds" / "landing"), "--warehouse", str(wh)]
        load_before = loadavg()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with (logs / f"run-{i}.log").open("w") as handle:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
            sampler = TreeSampler(proc.pid)
            sampler.start()
            code = proc.wait()
            sampler.stop()
        wall = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
        res["runs"].append({"seconds": wall, "exit_code": code, "peak_tree_rss_mb": sampler.peak_kb / 1024, "cpu_s": cpu,
                            "load_before": load_before, "load_after": loadavg(), "maxrss_children_mb": ru.ru_maxrss / 1024})
        print(f"  sample run #{i + 1}: {wall:.1f}s exit {code}", flush=True)
        shutil.rmtree(wh.parent)
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    _save(work, res)
    return res


def _save(work: Path, res: dict) -> None:
    out = work / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{res['name']}.json").write_text(json.dumps(res, indent=2, default=str))


# -------------------------------------------------------------------------------------------------- report
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    from importlib.metadata import version

    def v(pkg):
        try:
            return version(pkg)
        except Exception:
            return "?"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "mem_gb": round(int(mem) / 2**20, 1), "cpu": cpu,
            "python": platform.python_version(), "duckdb": v("duckdb"), "dbt-core": v("dbt-core"),
            "dbt-duckdb": v("dbt-duckdb"), "dagster": v("dagster"), "dagster-dbt": v("dagster-dbt"),
            "great_expectations": v("great_expectations"), "kernel": platform.release(), "commit": commit}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, nd=1):
    if x is None:
        return "n/a"
    if isinstance(x, int | float) and abs(x) >= 1000 and nd <= 1:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def summarize_build(runs: list[dict]) -> dict:
    if not runs:
        return {}
    s = {"n": len(runs), "total": med([r["total_seconds"] for r in runs]), "min": min(r["total_seconds"] for r in runs),
         "totals": [r["total_seconds"] for r in runs],
         "process": med([r["process_wall_seconds"] for r in runs]),
         "peak_tree": max(r["peak_tree_rss_mb"] for r in runs),
         "rss_self": max(r["maxrss_self_mb"] for r in runs), "rss_children": max(r["maxrss_children_mb"] for r in runs),
         "cpu": med([r["cpu_self_s"] + r["cpu_children_s"] for r in runs]),
         "touchpoints": runs[-1]["touchpoints"], "customers": runs[-1]["customers"],
         "ok": all(r["exit_code"] == 0 for r in runs), "warehouse_mb": runs[-1].get("warehouse_mb"),
         "load": ", ".join(f"{r['load_before']}/{r['load_after']}" for r in runs)}
    for st in STAGES:
        s[st] = med([r["stages"][st] for r in runs])
    s["ingest_by_source"] = {src: med([r["ingest_by_source"].get(src) for r in runs]) for src in SOURCES_ORDER}
    s["raw_checks_by_source"] = {src: med([r["raw_checks_by_source"].get(src) for r in runs]) for src in SOURCES_ORDER}
    s["rows_loaded"] = sum(row[3] for row in runs[-1]["sources"]) if runs[-1]["sources"] else None
    s["rows_read"] = sum(row[2] for row in runs[-1]["sources"]) if runs[-1]["sources"] else None
    return s


def render(work: Path) -> str:
    results = {}
    for p in sorted((work / "results").glob("*.json")):
        r = json.loads(p.read_text())
        results[r["name"]] = r
    sizes = sorted((r for n, r in results.items() if n != "sample" and not r.get("variant")), key=lambda r: r["people"])
    variants = sorted((r for r in results.values() if r.get("variant")), key=lambda r: r["name"])
    m = machine()
    L = []
    L.append(f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `benchmarks/run_benchmarks.py` "
             f"from the results in `{work}/results/` (commit {m['commit']}).")
    L.append("")
    L.append(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_gb']} GB RAM, Linux {m['kernel']}; Python "
             f"{m['python']}, DuckDB {m['duckdb']}, dbt-core {m['dbt-core']} + dbt-duckdb {m['dbt-duckdb']}, "
             f"Dagster {m['dagster']} (dagster-dbt {m['dagster-dbt']}), Great Expectations {m['great_expectations']}.")
    L.append("")
    if sizes:
        L.append("### Full build (`journey run` over every export date into a fresh warehouse)")
        L.append("")
        L.append("Seconds, median of the runs (n). Stages are Dagster step wall times: *setup* = outside the Dagster "
                 "run (imports, definitions, run lock, the summary's row counts afterwards), *copy* = published file copied to the "
                 "build file, *ingest* = the 8 raw assets, *raw checks* = GX suites + batch gates on the new raw "
                 "rows, *dbt* = `dbt build` (models, seeds, data tests), *mart checks* = GX suites on the marts, "
                 "*other* = inside the run between steps (Dagster event handling). Floor = DuckDB alone reading every "
                 "export once. Peak memory = peak of the summed RSS of the run's process tree (sampled every 0.2 s); "
                 "max RSS = ru_maxrss of the Python process / of its largest child (dbt).")
        L.append("")
        L.append("| size | people x days | raw rows | touchpoints | n | floor | setup | copy | ingest | raw checks | dbt "
                 "| mart checks | publish | other | **total** | min | total / floor | CPU s | peak memory | max RSS py / dbt "
                 "| warehouse |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in sizes:
            f = summarize_build(r["full"])
            if not f:
                continue
            fl = med([x["total_seconds"] for x in r["floor"]])
            rows = f"{r['floor'][-1]['rows']:,}" if r["floor"] else "-"  # a size measured with --only full has none
            L.append(
                f"| {r['name']} | {r['people']:,} x {r['days']} | {rows} | {f['touchpoints'] or 0:,} | {f['n']} "
                f"| {fmt(fl)} | {fmt(f['setup'])} | {fmt(f['copy'])} | {fmt(f['ingest'])} | {fmt(f['raw_checks'])} "
                f"| {fmt(f['dbt_build'])} | {fmt(f['mart_checks'])} | {fmt(f['publish'])} | {fmt(f['other'])} "
                f"| **{fmt(f['total'])}** | {fmt(f['min'])} | {fmt(f['total'] / fl if fl else None)}x | {fmt(f['cpu'])} "
                f"| {fmt(f['peak_tree'] / 1024, 2)} GB | {fmt(f['rss_self'] / 1024, 2)} / "
                f"{fmt(f['rss_children'] / 1024, 2)} GB | {fmt((f['warehouse_mb'] or 0) / 1024, 2)} GB |")
        L.append("")
        L.append("All runs (seconds; load average 1-min before/after each run):")
        L.append("")
        for r in sizes:
            f = summarize_build(r["full"])
            fl = [round(x["total_seconds"], 1) for x in r["floor"]]
            L.append(f"- {r['name']} (commit {r.get('commit', '?')}): full {[round(t, 1) for t in f.get('totals', [])]}, floor {fl}, "
                     f"all runs exit 0: {f.get('ok')}; load {f.get('load')}; generated in "
                     f"{r['generate']['seconds']:.0f} s ({r['generate']['landing_mb']} MB of exports, "
                     f"{r['export_dates'][2]} export dates {r['export_dates'][0]}..{r['export_dates'][1]})")
        L.append("")
        L.append("Ingest and raw checks per source (seconds, median):")
        L.append("")
        L.append("| size | " + " | ".join(SOURCES_ORDER) + " |")
        L.append("|---|" + "---:|" * len(SOURCES_ORDER))
        for r in sizes:
            f = summarize_build(r["full"])
            if f:
                L.append(f"| {r['name']} ingest | " + " | ".join(fmt(f["ingest_by_source"][s]) for s in SOURCES_ORDER) + " |")
                L.append(f"| {r['name']} checks | " + " | ".join(fmt(f["raw_checks_by_source"][s]) for s in SOURCES_ORDER) + " |")
                fl = r["floor"][-1]["per_source"] if r["floor"] else {}
                per = {s: sum(v["seconds"] for k, v in fl.items() if k.startswith(s + " ")) for s in SOURCES_ORDER}
                L.append(f"| {r['name']} floor | " + " | ".join(fmt(per[s]) for s in SOURCES_ORDER) + " |")
        L.append("")
        L.append("### One nightly day (`journey backfill --from LAST --to LAST` on a warehouse holding every earlier date)")
        L.append("")
        L.append("| size | n | setup | copy | ingest | raw checks | dbt | mart checks | publish | other | **total** | min "
                 "| CPU s | full build | **nightly / full** | min / min | CPU / CPU | peak memory | published file after "
                 "| backfill of all but the last date |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in [*sizes, *variants]:
            base = next((x for x in sizes if x["name"] == r.get("size")), r)
            n, f = summarize_build(r.get("nightly", [])), summarize_build(r["full"] or base["full"])
            if not n or not f:
                continue
            b = r.get("backfill_all_but_last")
            L.append(f"| {r['name']} | {n['n']} | {fmt(n['setup'])} | {fmt(n['copy'])} | {fmt(n['ingest'])} "
                     f"| {fmt(n['raw_checks'])} | {fmt(n['dbt_build'])} | {fmt(n['mart_checks'])} | {fmt(n['publish'])} "
                     f"| {fmt(n['other'])} | **{fmt(n['total'])}** | {fmt(n['min'])} | {fmt(n['cpu'])} | {fmt(f['total'])} "
                     f"| **{100 * n['total'] / f['total']:.1f}%** | {100 * n['min'] / f['min']:.1f}% | {100 * n['cpu'] / f['cpu']:.1f}% "
                     f"| {fmt(n['peak_tree'] / 1024, 2)} GB | {fmt((n['warehouse_mb'] or 0) / 1024, 2)} GB "
                     f"| {fmt(b['total_seconds']) if b else 'n/a'} |")
        L.append("")
        L.append("### Scaling (full build time ratio against data ratio)")
        L.append("")
        L.append("| from -> to | touchpoints ratio | time ratio (median) | time ratio (min) | CPU s ratio "
                 "| time ratio / data ratio | dbt ratio | ingest ratio | checks ratio |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        full = [(r, summarize_build(r["full"])) for r in sizes if r["full"]]
        for (a, fa), (b, fb) in zip(full, full[1:], strict=False):
            dr = (fb["touchpoints"] or 1) / (fa["touchpoints"] or 1)
            tr = fb["total"] / fa["total"]
            ck = lambda f: f["raw_checks"] + f["mart_checks"]  # noqa: E731
            L.append(f"| {a['name']} -> {b['name']} | {dr:.2f}x | {tr:.2f}x | {fb['min'] / fa['min']:.2f}x "
                     f"| {fb['cpu'] / fa['cpu']:.2f}x | {tr / dr:.2f} "
                     f"| {fb['dbt_build'] / fa['dbt_build']:.2f}x | {fb['ingest'] / fa['ingest']:.2f}x "
                     f"| {ck(fb) / ck(fa):.2f}x |")
        L.append("")
        big = full[-1] if full else None
        if big and big[0]["full"][-1].get("dbt", {}).get("slowest"):
            r0 = big[0]["full"][-1]
            L.append(f"### Slowest dbt nodes of the {big[0]['name']} full build (run_results.json; total "
                     f"dbt elapsed {fmt(r0['dbt'].get('elapsed'))} s over {r0['dbt'].get('nodes')} nodes, "
                     "2 dbt threads, so node times overlap)")
            L.append("")
            L.append("By type: " + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(r0["dbt"]["by_type"].items(), key=lambda kv: -kv[1])))
            L.append("")
            L.append("| node | seconds |")
            L.append("|---|---:|")
            for row in r0["dbt"]["slowest"][:12]:
                L.append(f"| `{row['node']}` | {row['seconds']:.1f} |")
            L.append("")
            checks = sorted((s for s in r0["steps"] if s["stage"] in ("raw_checks", "mart_checks")), key=lambda s: -s["seconds"])
            if checks:
                L.append("Slowest check steps of that run: " + ", ".join(f"`{s['step']}` {s['seconds']:.1f} s" for s in checks[:6]))
                L.append("")
        if variants:
            L.append("### Experiments (full build with another setting; the repository's configuration unchanged)")
            L.append("")
            L.append("| experiment | commit | dbt DuckDB settings | n | ingest | raw checks | dbt | mart checks | **total** "
                     "| CPU s | peak memory | max RSS py / dbt | same size, default settings: total / peak |")
            L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for v in variants:
                f = summarize_build(v["full"])
                base = next((summarize_build(r["full"]) for r in sizes if r["name"] == v.get("size")), {})
                if not f:
                    continue
                L.append(f"| {v['name']} | {v.get('commit')} | `{v.get('dbt_settings') or 'repository profiles.yml'}` "
                         f"| {f['n']} | {fmt(f['ingest'])} "
                         f"| {fmt(f['raw_checks'])} | {fmt(f['dbt_build'])} | {fmt(f['mart_checks'])} "
                         f"| **{fmt(f['total'])}**{'' if f['ok'] else ' (run failed)'} | {fmt(f['cpu'])} "
                         f"| {fmt(f['peak_tree'] / 1024, 2)} GB "
                         f"| {fmt(f['rss_self'] / 1024, 2)} / {fmt(f['rss_children'] / 1024, 2)} GB "
                         f"| {fmt(base.get('total'))} s / {fmt((base.get('peak_tree') or 0) / 1024, 2)} GB |")
            L.append("")
        L.append("Other processes on the machine at the start of each size (cpu%, RSS, command):")
        L.append("")
        for r in [*sizes, *variants]:
            L.append(f"- {r['name']} ({r['started']}): " + ("; ".join(r.get("busy_at_start") or []) or "none above 5% cpu"))
        L.append("")
    s = results.get("sample")
    if s:
        secs = [x["seconds"] for x in s["runs"]]
        L.append("### `make run` on the bundled sample")
        L.append("")
        L.append(f"`journey run --landing seeds/landing` into a fresh warehouse that has dbt's parse state (as the first "
                 f"`make run` after installation has), the CLI process end to end: median "
                 f"**{fmt(statistics.median(secs))} s** of {len(secs)} ({', '.join(f'{x:.1f}' for x in secs)}), "
                 f"all exit 0: {all(x['exit_code'] == 0 for x in s['runs'])}, peak memory "
                 f"{max(x['peak_tree_rss_mb'] for x in s['runs']) / 1024:.2f} GB, CPU "
                 f"{', '.join(fmt(x.get('cpu_s')) for x in s['runs'])} s. A cold `dbt parse` "
                 f"(what `make` runs once after installation, and again only when a dbt file changed) takes "
                 f"{s['dbt_parse_cold_seconds']:.1f} s. "
                 f"Load average before/after: {', '.join(x['load_before'] + '/' + x['load_after'] for x in s['runs'])}. "
                 f"Busy at start: {'; '.join(s.get('busy_at_start') or []) or 'none above 5% cpu'}.")
        L.append("")
    return "\n".join(L)


def write_doc(doc: Path, block: str) -> None:
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    generated = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + generated + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    doc.write_text(text)


def parse_sizes(spec: str, days: int) -> list[tuple[str, int, int]]:
    out = []
    for item in spec.split(","):
        name, _, value = item.partition("=")
        people, _, d = value.partition("x")
        out.append((name, int(people), int(d or days)))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("kind", choices=["build", "floor"])
        p.add_argument("--out", required=True)
        p.add_argument("--landing", required=True)
        p.add_argument("--warehouse")
        p.add_argument("--start")
        p.add_argument("--end")
        p.add_argument("--dbt-settings")
        p.add_argument("--work", default=str(DEFAULT_WORK))
        args = p.parse_args(argv[1:])
        sys.path.insert(0, str(ROOT))
        result = child_build(args) if args.kind == "build" else child_floor(args)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="", help="NAME=PEOPLE[xDAYS],... e.g. 10k=10000,100k=100000,500k=500000")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS)
    p.add_argument("--start", default=DEFAULT_START, help="first day of generated activity")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement (medians are reported)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p.add_argument("--skip-nightly", action="store_true")
    p.add_argument("--nights-before", type=int, default=0, metavar="K",
                   help="run the K export dates before the last as nights of their own on the backfilled warehouse "
                        "before the measured night (default 0: the measured night is the first after the backfill)")
    p.add_argument("--dbt-settings", help='experiment: extra DuckDB settings for dbt, JSON, e.g. '
                   '\'{"memory_limit": "5GB"}\'; results are stored as NAME-VARIANT, with --variant')
    p.add_argument("--variant", help="suffix of the result name of an experiment (full builds only)")
    p.add_argument("--only", choices=["all", "floor", "full", "nightly"], default="all",
                   help="floor: re-measure only the floor of sizes that already have results; full: add --repeat "
                        "full builds to them; nightly: only the backfill and nightly day, stored beside the size's "
                        "floor and full builds (or with --variant, e.g. after a change of the models)")
    p.add_argument("--keep", action="store_true", help="keep every warehouse (default: only the last full build)")
    p.add_argument("--sample", action="store_true", help="also time `journey run` on seeds/landing")
    p.add_argument("--render", action="store_true", help="only rewrite the doc from existing results")
    p.add_argument("--doc", type=Path, help="markdown file whose generated block is rewritten")
    args = p.parse_args(argv)
    args.work = args.work.resolve()
    if not args.render:
        for name, people, days in parse_sizes(args.sizes, args.days) if args.sizes else []:
            bench_size(name, people, days, args)
        if args.sample:
            bench_sample(args)
    block = render(args.work)
    print(block)
    if args.doc:
        write_doc(args.doc, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
