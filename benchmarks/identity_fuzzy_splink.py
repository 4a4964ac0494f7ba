"""Fuzzy matching of person records: the dbt model (int_identity__fuzzy_matches) against the truth, and
optionally against an earlier version of the model and against Splink 5 scoring the records itself.

All score the same person records (intermediate.int_identity__person_records: CRM contact and order
versions) with the same blocking keys; the result is compared with the generator's truth at the level of
record pairs, overall and on the pairs that share no identifier (the ones fuzzy matching exists for).

    journey generate --out /tmp/gen10k --people 10000 --days 60 --seed 1
    journey run --landing /tmp/gen10k/landing --warehouse /tmp/w10k/journey.duckdb
    python benchmarks/identity_fuzzy_splink.py --warehouse /tmp/w10k/journey.duckdb --truth /tmp/gen10k/truth

The model is re-run from its compiled SQL (dbt compile --select int_identity__fuzzy_matches first), on a copy
of the warehouse: with --parameters CSV the copy's seed identity_fuzzy_parameters is replaced by that file
first (to try parameters `journey train-identity --out CSV` wrote without building again); --baseline takes the
compiled SQL of another version of the model (e.g. compiled from `git archive` of an older commit), --splink
adds Splink 5 predicting pairs itself with stock comparisons.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

import duckdb


def prepare(con: duckdb.DuckDBPyConnection, truth: Path) -> None:
    con.execute(f"create table truth as select source || ':' || record_key as record_key, person_id "
                f"from read_csv('{truth / 'records.csv.gz'}', all_varchar = true)")
    con.execute("""
        create table people_in as
        select
            source_name || ':' || record_id || '#' || row_number() over (
                partition by source_name, record_id order by first_name_key, last_name_key, birth_date, street_key) as unique_id,
            source_name || ':' || record_id as record_key,
            first_name_key, last_name_key, birth_date, street_key, postcode_key, phone, email,
            cast(year(birth_date) as varchar) || '-' || least(month(birth_date), day(birth_date)) || '-'
                || greatest(month(birth_date), day(birth_date)) as birth_key,
            least(left(first_name_key, 1), left(last_name_key, 1))
                || greatest(left(first_name_key, 1), left(last_name_key, 1)) as initials_key
        from intermediate.int_identity__person_records
    """)
    # record pairs that share a (non-placeholder) identifier value: already linked without fuzzy matching
    con.execute("""
        create table sharing as
        select distinct least(a.source_name || ':' || a.record_id, b.source_name || ':' || b.record_id) as record_a,
               greatest(a.source_name || ':' || a.record_id, b.source_name || ':' || b.record_id) as record_b
        from intermediate.int_identity__record_identifiers a
        join intermediate.int_identity__record_identifiers b on a.node_id = b.node_id
        join intermediate.int_identity__identifier_values v on v.node_id = a.node_id and not v.is_placeholder
        where a.source_name in ('crm_contacts', 'orders') and b.source_name in ('crm_contacts', 'orders')
          and a.source_name || ':' || a.record_id < b.source_name || ':' || b.record_id
    """)
    con.execute("""
        create table true_pairs as
        select a.record_key as record_a, b.record_key as record_b
        from (select distinct record_key from people_in) a join truth ta on ta.record_key = a.record_key
        join (select distinct record_key from people_in) b on a.record_key < b.record_key
        join truth tb on tb.record_key = b.record_key and tb.person_id = ta.person_id
    """)


def score(con: duckdb.DuckDBPyConnection, predicted: str) -> dict:
    """Precision and recall of predicted record pairs (table with record_a < record_b)."""
    con.execute(f"create or replace table predicted as select distinct record_a, record_b from {predicted}")
    out = {}
    for label, where in (("all pairs", "true"), ("pairs sharing no identifier", "s.record_a is null")):
        tp, fp = con.execute(f"""
            select count(*) filter (where t.record_a is not null), count(*) filter (where t.record_a is null)
            from predicted p left join true_pairs t using (record_a, record_b)
            left join sharing s using (record_a, record_b) where {where}""").fetchone()
        fn, = con.execute(f"""
            select count(*) from true_pairs t left join predicted p using (record_a, record_b)
            left join sharing s using (record_a, record_b) where p.record_a is null and {where}""").fetchone()
        out[label] = {"tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp) if tp + fp else 1.0,
                      "recall": tp / (tp + fn) if tp + fn else 1.0}
    return out


def run_sql(con: duckdb.DuckDBPyConnection, compiled: Path, table: str) -> float:
    """Run the compiled model into `table`; returns the seconds it took."""
    # the compiled SQL names the database it was compiled for: drop that qualifier
    sql = re.sub(r'"[^"]+"\.("(?:intermediate|staging|reference|marts)")', r"\1", compiled.read_text())
    start = time.perf_counter()
    con.execute(f"create or replace table {table} as {sql}")
    return time.perf_counter() - start


def run_splink(con: duckdb.DuckDBPyConnection, threshold: float) -> float:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()
    db_api = DuckDBAPI(con.cursor())
    frame = db_api.register("people_in")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            block_on("birth_key"), block_on("postcode_key", "initials_key"), block_on("phone"),
            block_on("last_name_key", "street_key"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison("first_name_key", "last_name_key"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.ExactMatch("postcode_key"),
            cl.ExactMatch("street_key"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("email"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(frame, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name_key", "last_name_key", "birth_date")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode_key", "street_key"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    con.execute(f"""
        create or replace table splink_pairs as
        select distinct least(l.record_key, r.record_key) as record_a, greatest(l.record_key, r.record_key) as record_b
        from {predictions.physical_name} p
        join people_in l on l.unique_id = p.unique_id_l join people_in r on r.unique_id = p.unique_id_r
        where l.record_key <> r.record_key
    """)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--compiled", type=Path, default=Path(__file__).resolve().parents[1] / "dbt_project" / "target"
                        / "compiled" / "customer_journey" / "models" / "intermediate" / "identity" / "int_identity__fuzzy_matches.sql")
    parser.add_argument("--parameters", type=Path, help="a parameters CSV to score with instead of the warehouse's seed")
    parser.add_argument("--baseline", type=Path, help="compiled SQL of another version of the model, scored too")
    parser.add_argument("--splink", action="store_true", help="also let Splink 5 predict pairs with stock comparisons")
    parser.add_argument("--threshold", type=float, default=0.99, help="Splink match probability threshold")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "w.duckdb"
        shutil.copy(args.warehouse, copy)
        con = duckdb.connect(str(copy))
        prepare(con, args.truth)
        n, = con.execute("select count(*) from people_in").fetchone()
        if args.baseline:
            seconds = run_sql(con, args.baseline, "baseline_rerun")
            results.append(("baseline model", seconds,
                            score(con, "(select record_a, record_b from baseline_rerun where is_match)")))
        if args.parameters:
            con.execute(f"create or replace table reference.identity_fuzzy_parameters as "
                        f"select * from read_csv('{args.parameters}', header = true)")
        seconds = run_sql(con, args.compiled, "sql_rerun")
        results.append(("dbt model", seconds, score(con, "(select record_a, record_b from sql_rerun where is_match)")))
        if args.splink:
            seconds = run_splink(con, args.threshold)
            results.append((f"Splink 5 (p >= {args.threshold})", seconds, score(con, "splink_pairs")))
    print(f"{n:,} person-record descriptions")
    for name, seconds, scores in results:
        print(f"{name}: {seconds:.1f} s")
        for label, s in scores.items():
            print(f"  {label:28s} precision {s['precision']:.4f}  recall {s['recall']:.4f}  "
                  f"(tp {s['tp']:,}, fp {s['fp']:,}, fn {s['fn']:,})")


if __name__ == "__main__":
    main()
