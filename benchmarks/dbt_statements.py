"""Where a dbt build's time goes, statement by statement: read from dbt's debug log of one invocation.

dbt writes every statement it sends (`SQLQuery`) and, when it returns, its time (`SQLQueryStatus`) to the JSON log
beside the warehouse (`<warehouse>.dbt/dbt.log`) when the file log is at debug level. Run the pipeline so:

    DBT_LOG_LEVEL_FILE=debug .venv/bin/journey backfill --from 2026-10-28 --to 2026-10-28 --warehouse W
    .venv/bin/python benchmarks/dbt_statements.py W.dbt/dbt.log --run-results W.dbt/run_results.json

It prints the statement time by kind (the incremental models' batches, tables built whole, data tests, deletes,
commits, ...), the slowest statements with their nodes, and with `--run-results` how much of each node's time was
not spent in its statements (dbt's own Python: rendering, events, its metadata queries are statements too). With
one dbt thread (`JOURNEY_DBT_THREADS=1`) the statement times add up to the build's; with two they overlap.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KINDS = (  # (kind, pattern of the statement's start, after dbt's leading comment), first match wins
    ("incremental batch", r"create\s+temporary\s+table"),
    ("table built whole", r"create\s+table\s+\S+\s+as\b"),
    ("keys recorded for the uniqueness tests", r"create\s+or\s+replace\s+table\s+journey_keys_built\."),
    ("delete", r"delete\s+from"),
    ("insert", r"insert\s+into"),
    ("update", r"update\s"),
    ("commit", r"commit\b"),
    ("begin", r"begin\b"),
    ("rollback", r"rollback\b"),
)


@dataclass(frozen=True)
class Statement:
    node: str  # the dbt node's unique_id ("" outside a node: hooks, the run's set-up)
    seconds: float
    sql: str

    @property
    def kind(self) -> str:
        if self.node.startswith("test.") and re.match(r"(with|select)\b", self.sql, re.I):
            return "data test"
        for kind, pattern in KINDS:
            if re.match(pattern, self.sql, re.I):
                return kind
        return "other"


def statements(lines: list[str], invocation: str | None = None) -> list[Statement]:
    """The statements of one invocation (default: the log's last one), each with its time."""
    events = [json.loads(line) for line in lines if line.startswith("{")]
    if not events:
        raise ValueError("not a dbt JSON log: no JSON line")
    invocation = invocation or events[-1]["info"]["invocation_id"]
    sent: dict[str, dict] = {}  # thread -> its statement in flight (a thread runs one at a time)
    out = []
    for event in events:
        info = event["info"]
        if info["invocation_id"] != invocation:
            continue
        if info["name"] == "SQLQuery":
            sent[info["thread"]] = event
        elif info["name"] == "SQLQueryStatus" and info["thread"] in sent:
            query = sent.pop(info["thread"])
            sql = re.sub(r"^\s*/\*.*?\*/", "", query["data"]["sql"], flags=re.S).strip()
            node = query["data"].get("node_info", {}).get("unique_id", "")
            out.append(Statement(node, float(event["data"]["elapsed"]), " ".join(sql.split())))
    if not out:
        raise ValueError("no statement times in the log: run dbt with its file log at debug level "
                         "(DBT_LOG_LEVEL_FILE=debug)")
    return out


def by_kind(found: list[Statement]) -> list[tuple[str, int, float]]:
    count, seconds = Counter(), Counter()
    for s in found:
        count[s.kind] += 1
        seconds[s.kind] += s.seconds
    return [(kind, count[kind], seconds[kind]) for kind, _ in seconds.most_common()]


def python_time(found: list[Statement], run_results: dict) -> list[tuple[str, float, float]]:
    """Per node of run_results.json: (node, execution time, time outside its statements), largest first."""
    in_statements = Counter()
    for s in found:
        in_statements[s.node] += s.seconds
    rows = [(r["unique_id"], r["execution_time"], r["execution_time"] - in_statements[r["unique_id"]])
            for r in run_results["results"]]
    return sorted(rows, key=lambda row: -row[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="dbt's JSON log at debug level (<warehouse>.dbt/dbt.log)")
    parser.add_argument("--run-results", type=Path, help="the same invocation's run_results.json")
    parser.add_argument("--invocation", help="an invocation id of the log (default: its last invocation)")
    parser.add_argument("--top", type=int, default=25, help="statements to list")
    args = parser.parse_args(argv)
    try:
        found = statements(args.log.read_text().splitlines(), args.invocation)
    except ValueError as exc:
        print(f"{args.log}: {exc}", file=sys.stderr)
        return 2
    total = sum(s.seconds for s in found)
    print(f"{len(found):,} statements, {total:.1f} s")
    for kind, count, seconds in by_kind(found):
        print(f"  {seconds:8.2f} s  {count:5d}  {kind}")
    print(f"slowest {args.top}:")
    for s in sorted(found, key=lambda s: -s.seconds)[:args.top]:
        print(f"  {s.seconds:7.2f} s  {s.node.rpartition('.')[2][:45]:45}  {s.sql[:90]}")
    if args.run_results:
        rows = python_time(found, json.loads(args.run_results.read_text()))
        outside = sum(row[2] for row in rows)
        print(f"node time outside statements: {outside:.1f} s over {len(rows)} nodes; largest:")
        for node, seconds, python in rows[:10]:
            print(f"  {python:6.2f} of {seconds:6.2f} s  {node}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
