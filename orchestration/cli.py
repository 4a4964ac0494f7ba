"""The `journey` command: generate sample exports, run the pipeline, inspect its results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LANDING = PROJECT_ROOT / "seeds" / "landing"
DEFAULT_WAREHOUSE = Path("warehouse") / "journey.duckdb"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="journey", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write realistic, messy sample exports and their ground truth")
    gen.add_argument("--out", type=Path, required=True, help="folder to write landing/ and truth/ into")
    gen.add_argument("--people", type=int, default=2000)
    gen.add_argument("--days", type=int, default=60)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--start", default="2026-09-01", help="first day of activity (YYYY-MM-DD)")

    run = sub.add_parser("run", help="load new exports, build and check the warehouse, publish it, print a summary")
    run.add_argument("--landing", type=Path, default=DEFAULT_LANDING)
    run.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        from datetime import date

        from orchestration.lib.generate import generate

        stats = generate(args.out, people=args.people, days=args.days, seed=args.seed,
                         start=date.fromisoformat(args.start))
        print(stats)
        return 0
    if args.command == "run":
        from orchestration.runner import run_pipeline

        return run_pipeline(landing=args.landing, warehouse=args.warehouse)
    return 2


if __name__ == "__main__":
    sys.exit(main())
