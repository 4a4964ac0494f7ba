"""The `journey` command: generate sample exports, run the pipeline, inspect its results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.lib.paths import PROJECT_ROOT, resolve_landing, resolve_warehouse

ENGINES = ("duckdb", "spark")
LANDING_HELP = "the exports' folder (default: JOURNEY_LANDING, else the bundled sample seeds/landing)"
WAREHOUSE_HELP = "the published warehouse file (default: JOURNEY_WAREHOUSE, else warehouse/journey.duckdb)"
ENGINE_HELP = ("duckdb (the default: one warehouse file) or spark (Apache Spark: --warehouse is then a folder, default "
               "JOURNEY_SPARK_WAREHOUSE, else warehouse/spark; needs `make spark` and Java 17; docs/spark.md)")
FULL_REFRESH_HELP = ("rebuild the incremental journey tables from scratch (after changing journey rules or vars); "
                     "customer ids and the merge log are kept")


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


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
    run.add_argument("--landing", type=Path, help=LANDING_HELP)
    run.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    run.add_argument("--full-refresh", action="store_true", help=FULL_REFRESH_HELP)
    run.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)
    backfill = sub.add_parser("backfill", help="load the export folders of a date range (new files only), build, publish")
    backfill.add_argument("--from", dest="start", required=True, type=_date, help="first export date, YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, type=_date, help="last export date, YYYY-MM-DD")
    backfill.add_argument("--landing", type=Path, help=LANDING_HELP)
    backfill.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    backfill.add_argument("--full-refresh", action="store_true", help=FULL_REFRESH_HELP)
    backfill.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)

    forget = sub.add_parser(
        "forget", help="erase a person: list their identifiers (keyed hashes only) for erasure at the next run",
        description="Erase the customer an identifier resolves to, with every identifier linked to them: the "
        "suppression list beside the warehouse gets their keyed hashes (never the values), the next run removes "
        "every row of them from every table (and from the version kept for rollback), and later deliveries "
        "carrying one of them are not loaded (docs/privacy.md).")
    forget.add_argument("--email", action="append", default=[], help="an e-mail address (may be repeated)")
    forget.add_argument("--phone", action="append", default=[], help="a phone number (may be repeated)")
    forget.add_argument("--account-id", action="append", default=[], help="a shop account id (user_id)")
    forget.add_argument("--loyalty-id", action="append", default=[], help="a loyalty card id")
    forget.add_argument("--customer-id", action="append", default=[], help="a customer id of the warehouse")
    forget.add_argument("--file", type=Path, help="a file of several identifiers, one per line: TYPE,VALUE with "
                        "TYPE one of email, phone, account_id, loyalty_id, customer_id (blank lines and lines "
                        "starting with # are skipped)")
    forget.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    forget.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)
    forget.add_argument("--reason", default="", help="why (kept in the suppression list beside the warehouse, "
                        "not in the published file; write a ticket number, not personal data)")

    rollback = sub.add_parser("rollback", help="make the previously published warehouse the published one again")
    rollback.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    rollback.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)

    evaluate = sub.add_parser("evaluate-identity", help="compare resolved customers with a generator's ground truth")
    evaluate.add_argument("--truth", type=Path, default=PROJECT_ROOT / "seeds" / "truth",
                          help="the truth/ folder written by `journey generate`")
    evaluate.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)

    train = sub.add_parser("train-identity", help="learn fuzzy matching's parameters (Splink: m by EM, u by random "
                           "sampling) from a built warehouse's person records and write seed identity_fuzzy_parameters")
    train.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    train.add_argument("--out", type=Path, default=None,
                       help="the CSV to write (default: dbt_project/seeds/identity_fuzzy_parameters.csv)")

    explain = sub.add_parser("explain-customer", help="one customer's records, touchpoints, sessions, path, credits")
    explain.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    explain.add_argument("--customer-id", default=None, help="default: a customer with a multi-touch conversion")
    report = sub.add_parser("report", help="draw the journey report: one self-contained HTML file of charts from the marts")
    report.add_argument("--warehouse", type=Path, help=WAREHOUSE_HELP)
    report.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)
    report.add_argument("--out", type=Path, default=None,
                        help="the HTML file to write (default: journey_report.html beside the quality reports, "
                             "JOURNEY_QUALITY_REPORTS or quality_reports/ beside the warehouse)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "engine", "duckdb") == "spark":
        return _spark(args)
    if "warehouse" in args:
        args.warehouse = resolve_warehouse(args.warehouse)
    if "landing" in args:
        args.landing = resolve_landing(args.landing)
    if args.command == "generate":
        from datetime import date

        from generator import generate

        stats = generate(args.out, people=args.people, days=args.days, seed=args.seed,
                         start=date.fromisoformat(args.start))
        print(stats)
        return 0
    if args.command == "run":
        from orchestration.runner import run_pipeline

        return run_pipeline(landing=args.landing, warehouse=args.warehouse, full_refresh=args.full_refresh)
    if args.command == "backfill":
        from orchestration.runner import run_pipeline

        return run_pipeline(landing=args.landing, warehouse=args.warehouse, start=args.start, end=args.end,
                            command="journey backfill", full_refresh=args.full_refresh)
    if args.command == "forget":
        return _forget(args)
    if args.command == "rollback":
        from orchestration.lib.publish import bi_path, previous_path, rollback

        bi = bi_path(args.warehouse)
        with_bi = previous_path(bi).exists()
        try:
            rollback(args.warehouse)
        except FileNotFoundError as exc:
            print(f"journey rollback: {exc}", file=sys.stderr)
            return 1
        print(f"rolled back: {args.warehouse} is the previous version again"
              + (f", and so is its BI file {bi}" if with_bi else "") + " (the replaced version is kept as .previous)")
        return 0
    if args.command == "evaluate-identity":
        from orchestration.lib.identity_eval import evaluate_identity, format_report

        print(format_report(evaluate_identity(args.warehouse, args.truth.resolve())))
        return 0
    if args.command == "train-identity":
        from orchestration.lib.identity_training import (
            PARAMETERS_SEED,
            format_parameters,
            train_fuzzy_parameters,
            write_parameters,
        )

        rows = train_fuzzy_parameters(args.warehouse)
        out = args.out or PARAMETERS_SEED
        write_parameters(rows, out)
        print(format_parameters(rows))
        print(f"wrote {out}: commit it, then build again (`journey run`) to score pairs with these parameters")
        return 0
    if args.command == "explain-customer":
        from orchestration.lib.worked_example import worked_example

        print(worked_example(args.warehouse, args.customer_id))
        return 0
    if args.command == "report":
        from orchestration.lib.report import ReportError, write_report
        from orchestration.runner import report_path

        try:
            out = write_report(args.warehouse, args.out or report_path(args.warehouse))
        except ReportError as exc:
            print(f"journey report: {exc}", file=sys.stderr)
            return 1
        print(f"journey report: {out} (one HTML file, opens offline in any browser)")
        return 0
    return 2


def _spark(args: argparse.Namespace) -> int:
    """run, backfill, forget and rollback on Apache Spark (orchestration/spark_run.py)."""
    from orchestration.spark_run import SparkSetupError, resolve_spark_warehouse, rollback_spark, run_spark_pipeline

    if args.command == "forget":
        return _forget(args, spark=True)
    if args.command == "report":
        from orchestration.lib.report import ReportError, write_report
        from orchestration.runner import report_path

        folder = resolve_spark_warehouse(args.warehouse)
        try:
            out = write_report(folder, args.out or report_path(folder, "spark"), engine="spark")
        except ReportError as exc:
            print(f"journey report: {exc}", file=sys.stderr)
            return 1
        print(f"journey report: {out} (one HTML file, opens offline in any browser)")
        return 0
    if args.command == "rollback":
        warehouse = resolve_spark_warehouse(args.warehouse)
        try:
            generation = rollback_spark(warehouse)
        except (FileNotFoundError, SparkSetupError) as exc:
            print(f"journey rollback: {exc}", file=sys.stderr)
            return 1
        print(f"rolled back: the views of {warehouse} show generation {generation} again (the replaced one is kept "
              "as the previous)")
        return 0
    landing = resolve_landing(args.landing)
    if args.command == "backfill":
        return run_spark_pipeline(landing, args.warehouse, args.start, args.end, command="journey backfill",
                                  full_refresh=args.full_refresh)
    return run_spark_pipeline(landing, args.warehouse, full_refresh=args.full_refresh)


def _forget(args: argparse.Namespace, spark: bool = False) -> int:
    """`journey forget`: on DuckDB the list beside the warehouse file, resolved in the published warehouse; on Spark
    the list beside the Spark warehouse's books, resolved by the next Spark run in its published generation."""
    from orchestration.lib.privacy import PrivacyError, forget, suppressions_path

    identifiers = [(option, value) for option in ("email", "phone", "account_id", "loyalty_id", "customer_id")
                   for value in getattr(args, option)]
    if spark:
        from orchestration.spark_run import BOOKS, resolve_spark_warehouse

        folder = resolve_spark_warehouse(args.warehouse)
        folder.mkdir(parents=True, exist_ok=True)
        listed_in = folder / BOOKS
    else:
        listed_in = args.warehouse
    try:
        if args.file:
            identifiers += read_identifier_file(args.file)
        result = forget(listed_in, identifiers, args.reason, resolve=not spark)
    except (PrivacyError, OSError) as exc:
        print(f"journey forget: {exc}", file=sys.stderr)
        return 2
    if spark:
        print(f"{result.request_id}: {result.identifiers} identifier(s) listed as keyed hashes in "
              f"{suppressions_path(listed_in)}")
        print("the next `journey run --engine spark` finds their customers and every linked identifier in the "
              "published generation, removes every row of them from Spark's raw and quarantine tables, rebuilds, "
              "and drops every generation that still holds them once the new one is published")
        return 0
    print(f"{result.request_id}: {result.customers} customer(s) found in {args.warehouse}; "
          f"{result.identifiers} identifier(s) listed as keyed hashes in {suppressions_path(args.warehouse)}")
    if result.unresolved:
        print(f"not in the warehouse (listed anyway, so that no delivery loads them): {', '.join(result.unresolved)}")
    print("the next `journey run` removes every row of them, rebuilds and rewrites the published file and the "
          "version kept for rollback")
    return 0


def read_identifier_file(path: Path) -> list[tuple[str, str]]:
    """TYPE,VALUE lines (blank lines and # comments skipped); raises PrivacyError naming a bad line."""
    from orchestration.lib.privacy import FORGET_TYPES, PrivacyError

    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, sep, value = line.partition(",")
        kind = kind.strip().lower().replace("-", "_")
        if not sep or kind not in FORGET_TYPES or not value.strip():
            raise PrivacyError(f"{path}: line {n} is not TYPE,VALUE with TYPE one of {', '.join(FORGET_TYPES)}")
        out.append((kind, value.strip()))
    return out


if __name__ == "__main__":
    sys.exit(main())
